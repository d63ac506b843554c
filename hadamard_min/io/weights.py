"""Read and write weight files with NumPy alone: our ``.npz``, ``.safetensors`` and torch zip checkpoints.

One reader per format, all on the same footing: declared sizes are checked against the file and against
the limits of :mod:`~hadamard_min.io.limits` before anything is allocated, and a pickle is run by the cut-down
machine of :mod:`~hadamard_min.io.safe_pickle`, which reaches no Python object (torch is never imported):

    .npz                  npz.py           zip of .npy entries, metadata as JSON text
    .safetensors          safetensors.py   JSON header + raw bytes
    .pth / .pt / .bin     torch_files.py   zip of a pickle + raw storages (the file starts with PK\x03\x04)
                          legacy_torch.py  pickles, then the raw storages (torch's legacy format; starts with \x80)
"""
import os

import numpy

from hadamard_min.io.errors import TooLargeError, UnsafePickleError, WeightsError
from hadamard_min.io.legacy_torch import load_legacy_torch
from hadamard_min.io.limits import MAX_TEXT_BYTES, file_size, open_regular
from hadamard_min.io.npz import load_npz, load_npz_metadata, save_weights
from hadamard_min.io.safetensors import load_safetensors
from hadamard_min.io.torch_files import load_torch_zip

__all__ = ["SUPPORTED", "UnsafePickleError", "WeightsError", "load_npz_metadata", "load_weights",
           "match_state_dict", "save_weights"]

SUPPORTED = ".npz, .safetensors, .pth, .pt, .bin"
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "network", "params")


def load_torch(path):
    """A torch checkpoint by its first byte: a pickle (``\\x80``) is the legacy format, anything else a zip."""
    with open_regular(path) as file:
        legacy = file.read(1) == b"\x80"
    return load_legacy_torch(path) if legacy else load_torch_zip(path)


_READERS = {".npz": load_npz, ".safetensors": load_safetensors, ".pth": load_torch, ".pt": load_torch,
            ".bin": load_torch}


def _add(flat, name, value, path):
    """``flat[name] = value``, refused when two keys of the file give one name (None and "None", 1 and "1",
    ``{"a.b": …}`` and ``{"a": {"b": …}}``): one of them would be dropped without a word."""
    if name in flat:
        raise WeightsError(f"{path}: two tensors are both named {name[:80]!r} (keys that differ only in type, "
                           f"or a dotted key next to nested ones); the file is corrupt or crafted")
    flat[name] = value


def _flatten(tree, path, prefix="", flat=None, spent=None):
    """Nested dicts -> ``{"a.b.c": array}`` (non-array leaves such as epoch numbers are dropped).

    The names built, those of nested dicts included, hold at most ``MAX_TEXT_BYTES`` characters in all, counted
    before each is built: a dict shared under two 1 MB keys at each of 12 levels (a 2 MB file) is 4,096 names
    of up to 12 MB, and 19 levels, within the bound on entries, took hours."""
    flat = {} if flat is None else flat
    spent = [0] if spent is None else spent  # characters of the names built so far
    for key, value in tree.items():
        if not isinstance(value, dict | numpy.ndarray):
            continue
        spent[0] += len(prefix) + (len(key) if isinstance(key, str | bytes) else 0) + 1  # bytes: at least
        if spent[0] > MAX_TEXT_BYTES:
            raise TooLargeError(f"{path}: its tensor names (nested keys joined with '.') run past "
                                f"{MAX_TEXT_BYTES:,} characters in all; the file is corrupt or crafted")
        if isinstance(value, dict):
            _flatten(value, path, f"{prefix}{key}.", flat, spent)
        else:
            _add(flat, f"{prefix}{key}", value, path)
    return flat


def _state_dict_of(obj, path):
    """The arrays of a checkpoint: those of its one wrapper (state_dict, model, ...) holding a dict, whatever
    sits beside it (an epoch, a best accuracy saved as a tensor); else the whole tree flattened with ``"."``,
    top-level arrays and nested dicts alike, so that no tensor is dropped and two that give one name are
    refused. Two wrappers are refused: which of them is the model is not ours to guess."""
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors; save a state_dict")
    wrappers = [key for key in WRAPPER_KEYS if isinstance(obj.get(key), dict)]
    if len(wrappers) > 1:
        raise WeightsError(f"{path}: holds {len(wrappers)} dicts that could each be the model's state_dict "
                           f"({', '.join(wrappers)}); save the one you mean with torch.save(checkpoint[KEY], ...)")
    if wrappers:
        return _state_dict_of(obj[wrappers[0]], path)
    return _flatten(obj, path)


def load_weights(path):
    """``{name: numpy array}`` from an .npz, .safetensors or torch checkpoint (.pth/.pt/.bin, zip or legacy)."""
    if not isinstance(path, str | os.PathLike):
        raise WeightsError(f"load_weights takes a file's path (str or pathlib.Path), not {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsError(f"weights file not found: {path}; check the path (or download/port the weights)")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _READERS:
        raise WeightsError(f"{path}: unknown weights format {suffix or '(no suffix)'}; supported: {SUPPORTED}")
    try:
        file_size(path)
        loaded = _READERS[suffix](path)
    except OSError as error:
        raise WeightsError(f"{path}: cannot read the file ({error.strerror or error})") from None
    arrays = _state_dict_of(loaded, path) if _READERS[suffix] is load_torch else loaded
    if not arrays:
        raise WeightsError(f"{path}: holds no tensors; expected the weights of a model")
    return arrays


def check_finite(state, source):
    """``state`` ({name: array}) when every floating-point array in it is finite and no BatchNorm running
    variance is below zero; else one line naming the first that is not (a model with a NaN or an infinity, or
    the square root of a negative variance, answers nothing meaningful). Every model checks the arrays it
    loads, in its own type, here (``Module.load_state_dict``)."""
    for name, array in state.items():
        if array.dtype.kind in "fc" and not numpy.isfinite(array).all():
            raise WeightsError(f"{source}: weight {name} holds NaN or infinity (or a number too large for "
                               f"{array.dtype}), so every answer would be meaningless; restore the file or retrain")
        if name.rpartition(".")[2] == "running_var" and (array < 0).any():
            raise WeightsError(f"{source}: weight {name} holds {array[array < 0][0]:.6g}, a variance below zero, "
                               f"so every answer would be meaningless; restore the file or retrain")
    return state


def _listing(kind, names, limit=10):
    shown = ", ".join(names[:limit]) + (f", and {len(names) - limit} more" if len(names) > limit else "")
    return f"{len(names)} {kind}: {shown}"


def match_state_dict(expected, found, source="file"):
    """Check ``found`` (name -> array) against ``expected`` (name -> shape); return ``{name: array}``.

    A leading ``module.`` on every key (saved from DataParallel) is stripped, and BatchNorm's
    ``num_batches_tracked`` counters are dropped unless expected. A complex array is refused: casting it to
    the model's real type would drop its imaginary part without a word.
    """
    if found and all(key.startswith("module.") for key in found):
        found = {key[len("module."):]: value for key, value in found.items()}
    found = {key: value for key, value in found.items()
             if key in expected or not (key == "num_batches_tracked" or key.endswith(".num_batches_tracked"))}
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    wrong = [f"{name}: expected {tuple(shape)}, found {tuple(found[name].shape)}"
             for name, shape in expected.items()
             if name in found and tuple(found[name].shape) != tuple(shape)]
    complex_ = [name for name in expected if name in found and found[name].dtype.kind == "c"]
    problems = [_listing(kind, names) for kind, names in
                (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong),
                 ("complex-valued (the model's are real)", complex_)) if names]
    if problems:
        raise WeightsError(f"{source} does not fit the model: {'; '.join(problems)}; "
                           f"check that the weights were made for this model")
    return {name: found[name] for name in expected}
