"""Vocabulary and answer files as the published models shipped them, read as a list of names in id order.

Accepted forms, for words (``kind="words"``) and answers (``kind="answers"``):

    vqa.pytorch     word_to_wid.pickle / wid_to_word.pickle,   ans_to_aid.pickle / aid_to_ans.pickle
                    (plain dicts or lists, read with the restricted unpickler: nothing in them is run)
    original MLB    data_prepro.json with "ix_to_word" and "ix_to_ans" (ids are JSON strings "1", "2", …)
    plain text      one name per line, in id order
    JSON            a list, or a dict {id: name} or {name: id}

Word ids start at 1: row 0 of a word table is padding. Answer ids start at 0 or at 1 (Lua); answer
``i`` of the returned list is output ``i`` of the classifier either way.
"""
import io
from pathlib import Path

from hadamard_min.data.text import PAD, first_repeat, first_too_long
from hadamard_min.io.limits import MAX_NAME_CHARS, parse_json, read_bounded, text_lines
from hadamard_min.io.porting.common import UNKNOWN_WORDS, PortError
from hadamard_min.io.safe_pickle import load_pickle

KEYS = {"words": ("ix_to_word", "word_to_ix", "wid_to_word", "word_to_wid"),
        "answers": ("ix_to_ans", "ans_to_ix", "aid_to_ans", "ans_to_aid")}
PICKLES = (".pickle", ".pkl")


def _load(path):
    path = Path(path)
    if not path.exists():
        raise PortError(f"file not found: {path}")
    data = read_bounded(path)
    if path.suffix in PICKLES:
        return load_pickle(io.BytesIO(data), str(path))
    if path.suffix == ".json":
        return parse_json(data, path)
    return [line.strip() for line in text_lines(data, path) if line.strip()]


def _as_id(key):
    """An integer id from an int or a string of ASCII digits in canonical form (at most 18, no leading zero:
    "01" next to "1" would name one id twice), else None."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    canonical = isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 18 and str(int(key)) == key
    return int(key) if canonical else None


def _names_by_id(mapping, path, kind):
    """{id: name} or {name: id} → (names in id order, first id)."""
    given = mapping
    numbers = all(_as_id(value) is not None and not isinstance(value, str) for value in mapping.values())
    if numbers and all(_as_id(key) is not None for key in mapping):
        key, value = next(iter(mapping.items()))
        raise PortError(f"{path}: keys and values are all numbers (e.g. {key!r}: {value!r}), so it is not clear "
                        f"which are the {kind}; expected {{id: name}} with names as strings, or {{name: id}}")
    if numbers:
        mapping = {value: key for key, value in mapping.items()}          # {name: id} → {id: name}
    ids = {_as_id(key): name for key, name in mapping.items()}
    if None in ids or not all(isinstance(name, str) for name in ids.values()):
        raise PortError(f"{path}: expected a dict of id → name or name → id (ids are integers without leading "
                        f"zeros)")
    if len(ids) != len(mapping) or (numbers and len(mapping) != len(given)):
        raise PortError(f"{path}: two {kind} share one id ({len(given)} entries, {len(ids)} ids); each id must "
                        f"name one {kind[:-1]}")
    first = min(ids)
    if sorted(ids) != list(range(first, first + len(ids))):
        raise PortError(f"{path}: ids must run without gaps from {first}; {len(ids)} names but largest id "
                        f"{max(ids)}")
    return [ids[i] for i in range(first, first + len(ids))], first


def read_names(path, kind):
    """The names of ``path`` in id order, for ``kind`` "words" (ids 1..V) or "answers" (outputs 0..K−1)."""
    loaded = _load(path)
    if isinstance(loaded, dict):
        key = next((key for key in KEYS[kind] if key in loaded), None)
        loaded = loaded[key] if key is not None else loaded
    if isinstance(loaded, list | tuple):
        if not all(isinstance(name, str | int | float) for name in loaded):
            raise PortError(f"{path}: the list of {kind} holds something other than names (strings)")
        names, first = [str(name) for name in loaded], None
    elif isinstance(loaded, dict) and loaded:
        names, first = _names_by_id(loaded, path, kind)
    else:
        raise PortError(f"{path}: no {kind} found; expected one of {', '.join(KEYS[kind])} or a list")
    if kind == "words" and first not in (None, 1):
        raise PortError(f"{path}: word ids start at {first}, but id 0 is the padding row of the word table; "
                        f"expected ids 1..{len(names)}")
    if kind == "answers" and first not in (None, 0, 1):
        raise PortError(f"{path}: answer ids start at {first}; expected 0 or 1 (the classifier's first "
                        f"output)")
    if not names:
        raise PortError(f"{path}: the list of {kind} is empty")
    _check_distinct(names, path, kind, first if first is not None else int(kind == "words"))
    return names


def _check_distinct(names, path, kind, first_id):
    """Refuse a list naming one word or answer twice (a name would stand for two ids), and a word list that
    names the padding (id 0, no word) or names the unknown word both ways (which one is it?); and a name longer
    than ``MAX_NAME_CHARS`` (a figure draws it on one line)."""
    long = first_too_long(names)
    if long:
        raise PortError(f"{path}: its {kind[:-1]} of id {long[0] + first_id} has {len(long[1]):,} characters, more "
                        f"than the {MAX_NAME_CHARS:,} a name may have; the file is corrupt or crafted")
    repeat = first_repeat(names)
    if repeat:
        name, first, second = repeat
        raise PortError(f"{path}: lists the {kind[:-1]} {name[:80]!r} twice (ids {first + first_id} and "
                        f"{second + first_id}); the file is corrupt or not as published: use the {kind} file "
                        f"published with these weights")
    if kind == "words" and PAD in names:
        raise PortError(f"{path}: lists {PAD!r} as word id {names.index(PAD) + 1}, but padding is id 0, not a "
                        f"word; use the words file published with these weights")
    if kind == "words" and all(word in names for word in UNKNOWN_WORDS):
        raise PortError(f"{path}: lists both {' and '.join(map(repr, UNKNOWN_WORDS))}, so which one is the unknown "
                        f"word is not clear; use the words file published with these weights")
