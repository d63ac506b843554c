"""An :class:`Explanation` as one .npz file and back: the arrays as arrays, everything else as JSON.

Arrays (NumPy .npy members, read back with ``allow_pickle=False``):

    grad_v (3, S, S)   ∇v of eq. 2, or a baseline's ∂y/∂I         (absent for Grad-CAM and attention)
    grad_q (ρ, D)      ∇q of eq. 3, or ∂y/∂q                      (absent for attention)
    pixel_map (3, S, S), heatmap (S, S), alpha (G, S', S'), token_scores (ρ,), token_z (ρ,),
    image uint8 (H, W, 3) as given, input_image uint8 (S, S, 3) as the network saw it

and the JSON entry ``__explanation__``: question, tokens, answer, probability, top_k, unknown_words,
options, method, target and framing (a file without input_image and framing, written before they
existed, reads as an image the network saw as it is). The file is written atomically (:func:`io.weights.save_weights`).
"""
import json
import math
import numbers
import os

import numpy

from hadamard_min.explain.arguments import METHODS, ExplainArgumentError, shown
from hadamard_min.explain.consistency import check_consistency
from hadamard_min.explain.framing import Framing, check_fit
from hadamard_min.io.atomic import json_text
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import MAX_NAME_CHARS, MAX_QUESTION_CHARS
from hadamard_min.io.outputs import check_outputs
from hadamard_min.io.weights import load_npz_metadata, load_weights, save_weights
from hadamard_min.models.config import BOUNDS

ARRAYS = ("grad_v", "grad_q", "pixel_map", "heatmap", "alpha", "token_scores", "token_z", "image", "input_image")
OPTIONAL = ("grad_v", "grad_q", "pixel_map", "input_image")
TEXT = ("question", "tokens", "answer", "probability", "top_k", "unknown_words", "options", "method", "target")
FORMAT = 1
MAX_TOP_K = 10_000  # answers an explanation lists at most
MAX_TOP_K_CHARS = 200_000  # their characters together (10,000 answers of 20)
MAX_OPTIONS = 64  # entries of its options (explain writes at most 4: top_k, fix_f, sign, guided)


class ExplanationFileError(WeightsError):
    """A file is not an explanation written by :meth:`Explanation.save`, or its arrays do not fit together."""


def _check_path(path, method):
    if not isinstance(path, str | os.PathLike):
        raise ExplainArgumentError(f"path must be a file's path (str or pathlib.Path), not {shown(path)}; "
                                   f"Explanation.{method}(path)")
    if not os.fspath(path):  # pathlib reads "" as "." (this folder)
        raise ExplainArgumentError(f"the path is empty: give Explanation.{method} a file's path")


def check_destination(path, label="path"):
    """Refuse ``path`` as the file an explanation is saved to, before anything is written: it may be a new file
    or an explanation written before; any other file (a model's weights, an image, a link to nothing) is
    refused with :class:`ExplanationFileError` and left as it is."""
    check_outputs({label: path})
    if os.path.lexists(path) and not _is_explanation(path):
        what = "a link to nothing" if not os.path.exists(path) else "not an explanation file"
        raise ExplanationFileError(f"{label} {path} exists and is {what}: it would be overwritten; "
                                   f"choose another name (nothing was written)")


def save_explanation(explanation, path):
    """Write ``explanation`` to ``path`` (.npz, see :func:`check_destination`); returns the path."""
    _check_path(path, "save")
    check_destination(path)
    if not os.fspath(path).endswith(".npz"):  # said here: the weights' writer would say "weights are saved as .npz"
        raise ExplainArgumentError(f"path must name an .npz file (an explanation is saved as one), not "
                                   f"{shown(os.fspath(path))}; Explanation.save(path)")
    too_many = _too_many(vars(explanation))
    if too_many:
        raise ExplainArgumentError(f"this explanation {too_many}; it cannot be saved (nothing was written)")
    reason = unfit(explanation)  # what load will check, checked now: a file is written only where it reads back
    if reason:
        raise ExplainArgumentError(f"this explanation would not load back ({reason}): was it changed after "
                                   f"hm.explain? (nothing was written)")
    arrays = {name: getattr(explanation, name) for name in ARRAYS if getattr(explanation, name) is not None}
    text = {name: getattr(explanation, name) for name in TEXT}
    text["top_k"] = [[answer, float(p)] for answer, p in explanation.top_k]
    text["probability"] = float(explanation.probability)
    text["framing"] = explanation.framing.to_json()
    save_weights(path, arrays, metadata={"explanation": {"format": FORMAT, **text}})
    return path


def unfit(explanation, bounded=True):
    """Why ``explanation`` (in memory, perhaps changed by hand after hm.explain) is not one that
    :func:`load_explanation_fields` would read back, in words; None where it is. The checks of a file, on
    the fields as they are: each value first as it is (a NaN probability is named NaN, not JSON's null), then
    as the file would hold it. What draws, saves, stacks or becomes JSON is such an explanation; ``bounded``
    False leaves out the counts a file may hold (:func:`_too_many`), which a model of 20,000 answers explained
    with top_k=20_000 passes, for what draws it or writes it as JSON."""
    framing = getattr(explanation, "framing", None)
    if not isinstance(framing, Framing):
        return f"framing must be an explanation's Framing (e.framing), not {shown(framing)}"
    text = {name: getattr(explanation, name) for name in TEXT}
    try:
        _check_text("", text)
        arrays = {name: numpy.asarray(getattr(explanation, name)) for name in ARRAYS
                  if getattr(explanation, name) is not None}
        _checked_fields("", json.loads(json_text({**text, "framing": framing.to_json()})), arrays, bounded)
    except ExplanationFileError as error:
        return str(error).removeprefix(": ").split("; the file is")[0]
    except (TypeError, ValueError) as error:  # a value JSON cannot hold (in options), a ragged list as an array
        return f"a field holds what an explanation cannot ({error})"
    return None


def check_fields(explanation, use):
    """An explanation whose fields fit together as :meth:`Explanation.load` would read them back
    (:func:`unfit`): one changed by hand (answer None, tokens [], a str probability) is refused, naming the
    field, before it is ``use`` ("drawn", "stacked", …)."""
    reason = unfit(explanation, bounded=False)  # a file's bounds are the file's: a model's own counts may draw
    if reason:
        raise ExplainArgumentError(f"the explanation's fields do not fit together ({reason}): it cannot be {use} "
                                   f"(was it changed after hm.explain?)")


def load_explanation_fields(path):
    """The keyword arguments of :class:`Explanation` read from ``path``, after checking that they fit."""
    _check_path(path, "load")
    if not os.path.exists(path):  # said here: the weights' reader would suggest downloading weights
        raise FileNotFoundError(f"explanation file not found: {path}; check the path (Explanation.save "
                                f"writes one, hadamard-explain --save-arrays too)")
    try:  # the weights' reader's refusal, without its advice for weights (hadamard-train, hadamard-port)
        text = load_npz_metadata(path).get("explanation")
    except WeightsError as error:
        reason = str(error).removeprefix(f"{path}: ").rsplit("; ", 1)[0]
        raise ExplanationFileError(f"{path}: not an explanation file: {reason}; give one that Explanation.save "
                                   f"or hadamard-explain --save-arrays wrote") from None
    if not isinstance(text, dict) or type(text.get("format")) is not int or text["format"] != FORMAT:  # not true
        raise ExplanationFileError(f"{path}: not an explanation file (write one with Explanation.save)")
    arrays = load_weights(path)
    missing = [name for name in ARRAYS if name not in arrays and name not in OPTIONAL]
    missing += [name for name in TEXT if name not in text]
    if missing:
        raise ExplanationFileError(f"{path}: the explanation lacks {', '.join(missing)}")
    return _checked_fields(path, text, arrays)


def _checked_fields(path, text, arrays, bounded=True):
    """The fields of an explanation from its JSON text and its arrays, each checked (ExplanationFileError)."""
    fields = {name: text[name] for name in TEXT}
    _check_text(path, fields)
    fields["top_k"] = [(answer, float(p)) for answer, p in text["top_k"]]
    fields.update({name: arrays.get(name) for name in ARRAYS})
    too_many = bounded and _too_many(fields)
    if too_many:
        raise ExplanationFileError(f"{path}: the explanation {too_many}; the file is corrupt or crafted")
    _check_arrays(path, fields)
    _check_shapes(path, fields)
    check_consistency(path, fields, ExplanationFileError)
    fields["framing"] = _framing(path, text.get("framing"), fields)
    return fields


def _too_many(fields):
    """What ``fields`` (an explanation's) hold beyond the bounds below (None when nothing is), in words.

    What a figure draws grows with these counts (a few milliseconds per token and per listed answer, tens per
    α map, a gigabyte for maps 2048 pixels on a side, 0.2 ms per character of text), so they are bounded where
    a file could make them anything: at most as many tokens, glimpses and pixels as a model may have
    (``max_length`` ≤ 1024, ``glimpses`` ≤ 64, the maps and the α grids at most ``image_size`` ≤ 1024 on a side,
    :mod:`models.config`; its unknown words are some of its tokens), ``MAX_TOP_K`` answers listed
    (``hadamard-explain --top-k``'s bound), ``MAX_OPTIONS`` options, each a number, text or null (every draw
    checks the fields as their JSON: 10 s for a million words or options), names (a token,
    an answer) of at most ``MAX_NAME_CHARS`` characters as a model's are, ``MAX_QUESTION_CHARS`` in the
    question and ``MAX_TOP_K_CHARS`` in the listed answers together; an explanation beyond them is neither
    saved nor loaded."""
    def chars(text):  # the types are checked after (a save checks what load checks), the counts first
        return len(text) if isinstance(text, str) else 0

    def each(values):
        return values if isinstance(values, list | tuple) else ()

    def shape(values):  # a ragged list (set by hand) has none
        return numpy.shape(values) if isinstance(values, numpy.ndarray) else ()

    tokens, top_k = each(fields["tokens"]), each(fields["top_k"])
    side, alpha, heatmap = BOUNDS["image_size"][1], shape(fields["alpha"]) or (0,), shape(fields["heatmap"])
    listed = [chars(pair[0]) for pair in top_k if isinstance(pair, list | tuple) and pair]
    names = [*map(chars, each(tokens)), *map(chars, each(fields["unknown_words"])), *listed,
             chars(fields["answer"]), chars(fields["target"]), chars(fields["method"])]
    options = fields["options"] if isinstance(fields["options"], dict) else {}
    counts = (("tokens", len(tokens), BOUNDS["max_length"][1]), ("α maps", alpha[0], BOUNDS["glimpses"][1]),
              ("unknown words", len(each(fields["unknown_words"])), BOUNDS["max_length"][1]),
              ("options", len(options), MAX_OPTIONS),
              ("answers in top_k", len(top_k), MAX_TOP_K),
              ("pixels on a side of its maps", max(heatmap, default=0), side),
              ("cells on a side of its α maps", max(alpha[1:], default=0), side),
              ("characters in its longest token or answer", max(names), MAX_NAME_CHARS),
              ("characters in its question", chars(fields["question"]), MAX_QUESTION_CHARS),
              ("characters in its listed answers", sum(listed), MAX_TOP_K_CHARS))
    beyond = [f"has {count:,} {what}, more than the {limit:,} an explanation may hold" for what, count, limit
              in counts if count > limit]
    return " and ".join(beyond) or None


def _is_explanation(path):
    try:
        return isinstance(load_npz_metadata(path).get("explanation"), dict)
    except (WeightsError, OSError):
        return False


def _check_text(path, fields):
    """Each JSON field of the right type: strings, a list of strings, a finite probability in [0, 1], …"""
    def refuse(name, expected):
        raise ExplanationFileError(f"{path}: {name} must be {expected}, not {fields[name]!r:.80}")

    def probability(value):  # a NumPy float too, held in memory (JSON's numbers are int and float)
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
            and 0.0 <= value <= 1.0

    for name in ("question", "answer", "method"):
        if not isinstance(fields[name], str):
            refuse(name, "a string")
    if fields["method"] not in METHODS:  # drawn under its name: "bogus" was a label of no method
        refuse("method", f"one of {', '.join(METHODS)}")
    if fields["target"] is not None and not isinstance(fields["target"], str):
        refuse("target", "a string or null")
    for name in ("tokens", "unknown_words"):
        if not isinstance(fields[name], list) or not all(isinstance(t, str) for t in fields[name]):
            refuse(name, "a list of strings")
    if not fields["tokens"]:
        refuse("tokens", "a list of at least one token")
    if not probability(fields["probability"]):
        refuse("probability", "a number in [0, 1]")
    top_k = fields["top_k"]
    if not isinstance(top_k, list) or not top_k or not all(
            isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[0], str) and probability(pair[1])
            for pair in top_k):
        refuse("top_k", "a non-empty list of [answer, probability] pairs")
    if not isinstance(fields["options"], dict) or not all(  # inf, NaN: strict JSON (to_json) has none
            isinstance(value, str | None) or (isinstance(value, numbers.Real) and math.isfinite(value))
            for value in fields["options"].values()):
        refuse("options", "an object of finite numbers, text, true/false or null")


def _check_arrays(path, fields):
    """Each array of numbers: real, finite where it must be, and not empty."""
    for name in ARRAYS:
        array = fields[name]
        if array is None:
            if name not in OPTIONAL:
                raise ExplanationFileError(f"{path}: the explanation lacks {name}")
            continue
        if array.dtype.kind not in "fiub" or array.size == 0:
            raise ExplanationFileError(f"{path}: {name} must be a non-empty array of real numbers, "
                                       f"not {array.dtype} {array.shape}")
        finite = array if name != "token_scores" and name != "token_z" else array[~numpy.isnan(array)]
        if array.dtype.kind == "f" and not numpy.isfinite(finite).all():
            raise ExplanationFileError(f"{path}: {name} holds values that are not finite")


def _framing(path, data, fields):
    """The file's Framing, checked against its image and input image (None: the whole image)."""
    if data is None:
        return None
    try:
        framing = Framing.from_json(data)
        check_fit(framing.fit)
    except (KeyError, TypeError, ValueError) as error:
        raise ExplanationFileError(f"{path}: framing is not a valid framing ({error})") from None
    seen = fields["input_image"] if fields["input_image"] is not None else fields["image"]
    left, top, right, bottom = framing.box
    if framing.image_size != fields["image"].shape[:2] or framing.input_size != seen.shape[0] or \
            not all(map(math.isfinite, framing.box)) or right <= left or bottom <= top:
        raise ExplanationFileError(f"{path}: framing {data!r:.120} does not fit the image {fields['image'].shape}")
    return framing


def _check_shapes(path, fields):
    rho = len(fields["tokens"])
    for name in ("image", "input_image"):
        image = fields[name]
        if image is not None and (image.dtype != numpy.uint8 or image.ndim != 3 or image.shape[2] != 3):
            raise ExplanationFileError(f"{path}: {name} must be uint8 (H, W, 3), not {image.dtype} {image.shape}")
    seen = fields["input_image"] if fields["input_image"] is not None else fields["image"]
    height, width = seen.shape[:2]
    expected = {"heatmap": (height, width), "pixel_map": (3, height, width), "grad_v": (3, height, width),
                "token_scores": (rho,), "token_z": (rho,)}
    for name, shape in expected.items():
        if fields[name] is not None and fields[name].shape != shape:
            raise ExplanationFileError(f"{path}: {name} has shape {fields[name].shape}, not {shape}")
    if fields["alpha"].ndim != 3 or fields["alpha"].shape[1] != fields["alpha"].shape[2]:
        raise ExplanationFileError(f"{path}: alpha must be (G, S, S), not {fields['alpha'].shape}")
    if fields["grad_q"] is not None and (fields["grad_q"].ndim != 2 or len(fields["grad_q"]) != rho):
        raise ExplanationFileError(f"{path}: grad_q must be ({rho}, D), not {fields['grad_q'].shape}")
