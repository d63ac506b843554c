"""Whole-model files: weights, config, vocabulary and answers in one ``.npz``, with a JSON manifest.

A model file ``NAME.npz`` loads with ``allow_pickle=False``: arrays are the state_dict, and the
metadata entries ``__config__``, ``__vocab__``, ``__answers__`` hold JSON. Its manifest ``NAME.json``
records the file's sha256, how it was made (command, seed, library versions, time) and its accuracy;
``load_model`` checks the sha256 whenever a manifest is present, and always for the shipped models: a
manifest that cannot be read, or has no sha256, stops the load (it never loads unverified). A model's
weights must be finite numbers.
"""
import hashlib
import os
import re
from pathlib import Path

from hadamard_min.data.text import first_repeat, first_too_long
from hadamard_min.io.atomic import write_json
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import MAX_NAME_CHARS, open_regular, parse_json, read_bounded
from hadamard_min.io.npz import load_npz, load_npz_metadata, save_weights

# The shipped models are the folder weights/ beside the package in a source checkout or an editable install;
# a wheel carries the same files as the package hadamard_min.shipped (pyproject.toml maps one to the other).
_PACKAGE = Path(__file__).resolve().parent.parent
WEIGHTS_FOLDER = _PACKAGE / "shipped" if (_PACKAGE / "shipped").is_dir() else _PACKAGE.parent / "weights"
SHIPPED_MODEL = WEIGHTS_FOLDER / "easyvqa_mlb.npz"  # easy-VQA, the default of every command
SHIPPED_TWO_SHAPE_MODEL = WEIGHTS_FOLDER / "twoshape_mlb.npz"  # two-shape scenes (hadamard-evaluate)


class ModelFileError(WeightsError):
    """A model file is missing, corrupt, or not a hadamard-min model."""


def sha256_of(path):
    with open_regular(path) as file:
        return _sha256_of_open(file)


def _sha256_of_open(file):
    """The sha256 of the whole open ``file``, hashed from its descriptor in 1 MiB blocks (a ResNet-152 model
    is ~230 MB: reading it whole to hash and parse the same bytes would double the peak memory of a load)."""
    file.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def manifest_path(path):
    return Path(path).with_suffix(".json")


def save_model(path, model, extra_arrays=None, extra_metadata=None):
    """Write ``model`` (a VQAModel) to ``path`` atomically; returns the file's sha256."""
    metadata = {"config": model.config(), "vocab": model.vocab.to_list(), "answers": list(model.answers)}
    metadata.update(extra_metadata or {})
    arrays = dict(model.state_dict())
    arrays.update(extra_arrays or {})
    save_weights(path, arrays, metadata)
    return sha256_of(path)


def write_manifest(path, **fields):
    """Write ``NAME.json`` next to the model file with its sha256 and the given fields."""
    manifest = {"file": Path(path).name, "sha256": sha256_of(path), **fields}
    write_json(manifest_path(path), manifest)
    return manifest


def expected_sha256(manifest):
    """The sha256 a manifest records (lower case), refused unless it is 64 hexadecimal digits."""
    fix = "restore it (git checkout weights/) or write it again with the model (hadamard-train)"
    try:
        recorded = parse_json(read_bounded(manifest, limit=1 << 20), manifest, "manifest")
    except WeightsError as error:
        raise ModelFileError(f"{error}; {fix}") from None
    if not isinstance(recorded, dict):
        raise ModelFileError(f"{manifest}: the manifest is a JSON {type(recorded).__name__}, not an object; {fix}")
    sha256 = recorded.get("sha256")
    if not (isinstance(sha256, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha256)):
        raise ModelFileError(f"{manifest}: the manifest has no sha256 (64 hexadecimal digits; found "
                             f"{str(sha256)[:70]!r}), so the model cannot be verified; {fix}")
    return sha256.lower()


def verify_sha256(path, file, required=False):
    """Compare the sha256 of ``file`` (``path`` open, the descriptor the caller then parses) with the
    manifest; raise ModelFileError if they differ or the manifest is broken. Without a manifest: None, or an
    error when ``required``."""
    manifest = manifest_path(path)
    if not manifest.exists():
        if required:
            raise ModelFileError(f"{path} has no manifest {manifest.name}, so its sha256 cannot be checked; "
                                 f"restore it (git checkout weights/)")
        return None
    expected, found = expected_sha256(manifest), _sha256_of_open(file)
    if expected != found:
        raise ModelFileError(f"{path} is corrupt or was changed: its sha256 is {found[:12]}…, the manifest "
                             f"{manifest.name} says {expected[:12]}…; restore the file (git checkout) or retrain")
    return found


def _checked_metadata(path, metadata):
    missing = [key for key in ("config", "vocab", "answers") if key not in metadata]
    if missing:
        raise ModelFileError(f"{path} is not a hadamard-min model file (no {', '.join(missing)} inside); "
                             f"weight files of one network are loaded with load_weights instead")
    for key in ("vocab", "answers"):
        if not (isinstance(metadata[key], list) and all(isinstance(name, str) for name in metadata[key])):
            raise ModelFileError(f"{path}: its {key} is not a list of strings; the model file is corrupt")
        long = first_too_long(metadata[key])
        if long:
            raise ModelFileError(f"{path}: its {key} holds a name of {len(long[1]):,} characters (id {long[0]}), "
                                 f"more than the {MAX_NAME_CHARS:,} a name may have; the model file is corrupt or "
                                 f"crafted")
        repeat = first_repeat(metadata[key])
        if repeat:
            name, first, second = repeat
            raise ModelFileError(f"{path}: its {key} lists {name[:80]!r} twice (ids {first} and {second}), so that "
                                 f"name would stand for two; the model file is corrupt: restore it or retrain")
    return metadata


def _read_once(path, verify):
    """(metadata, weights) of the model file ``path``, hashed and parsed through one descriptor: a file
    replaced by a rename after the check (an atomic write, ``git checkout``) leaves that descriptor on the
    bytes that were verified. A file rewritten in place (``cp``) changes under the descriptor too, so a change
    of its size or modification time between the first stat and the end of the parse refuses the load."""
    try:
        with open_regular(path) as file:
            before = os.fstat(file.fileno())
            if verify:
                verify_sha256(path, file, required=path.resolve() in (SHIPPED_MODEL, SHIPPED_TWO_SHAPE_MODEL))
            metadata = _checked_metadata(path, load_npz_metadata(path, file))
            # a training checkpoint also holds Adam's state and the run's random state, which a model does not load
            state = {k: v for k, v in load_npz(path, file).items() if not k.startswith(("adam.", "rng."))}
            after = os.fstat(file.fileno())
    except OSError as error:
        raise ModelFileError(f"cannot read model file {path}: {error.strerror or error}") from None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise ModelFileError(f"{path} was rewritten while it was loaded, so what was read may not be what was "
                             f"verified; load it again once nothing writes to it")
    return metadata, state


def load_model(path=None, verify=True):
    """Load a VQA model file (default: the shipped easy-VQA model), checking its sha256 when it has a manifest."""
    from hadamard_min.data.text import Vocabulary, VocabularyError
    from hadamard_min.models.config import ModelConfigError, check_config
    from hadamard_min.models.vqa import build_vqa_model

    if path is not None and not isinstance(path, str | os.PathLike):
        raise ModelFileError(f"load_model takes a model file's path (str or pathlib.Path), not {type(path).__name__}")
    if not isinstance(verify, bool):  # verify="no" is a true value: it would verify while saying it does not
        raise ModelFileError(f"load_model's verify must be True or False, not {type(verify).__name__} {verify!r:.40}")
    path = Path(path) if path is not None else SHIPPED_MODEL
    try:
        exists, folder = path.exists(), path.is_dir() or not path.name  # "", "." and "/" name no file
    except OSError as error:  # a name the system refuses (too long): there is no such model file
        raise ModelFileError(f"cannot read model file {path}: {error.strerror or error}") from None
    if folder:
        raise ModelFileError(f"{str(path)!r} is a folder, not a model file (give the .npz file's path)")
    if not exists:
        hint = ("the shipped model is missing: restore it (`git checkout weights/` in a checkout, reinstall "
                "hadamard-min otherwise) or retrain with hadamard-train" if path.parent == WEIGHTS_FOLDER
                else "check the path given to load_model or --weights")
        raise ModelFileError(f"model file not found: {path} ({hint})")
    if manifest_path(path) == path:  # verified against itself, it read as a model 'corrupt or changed'
        beside = path.with_suffix(".npz")
        raise ModelFileError(f"{path} is a model's manifest (its sha256), not a model file: give the .npz file"
                             f"{f' ({beside})' if beside.is_file() else ''}")
    metadata, state = _read_once(path, verify)
    try:
        vocab = Vocabulary.from_list(metadata["vocab"])
        declared = check_config(metadata["config"], len(vocab), len(metadata["answers"]))
        held = sum(array.size for array in state.values())
        if held < declared:  # checked before the model is built: a small file cannot make it allocate gigabytes
            raise ModelFileError(f"{path}: its config describes {declared:,} parameters but the file holds "
                                 f"{held:,} numbers; it is corrupt or its weights are not this config's")
        model = build_vqa_model(metadata["config"], vocab, metadata["answers"])
    except (ModelConfigError, VocabularyError) as error:
        raise ModelFileError(f"{path}: {error}") from None
    model.load_state_dict(state, source=str(path))
    return model.eval()
