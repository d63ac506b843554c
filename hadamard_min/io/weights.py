"""Read and write weight files with NumPy alone: our ``.npz``, ``.safetensors`` and torch zip checkpoints.

A torch checkpoint (``.pth``/``.pt``/``.bin``) is a zip archive holding ``<prefix>/data.pkl`` and
``<prefix>/data/<key>``: the pickle describes each tensor as ``_rebuild_tensor_v2(storage, offset, size,
stride, ...)`` and names its storage by key; the storage is the raw little-endian bytes in ``data/<key>``.
A tensor is then the strided view

    tensor[i_0, ..., i_n] = storage[offset + sum_k i_k * stride_k]

A pickle can name any Python function, so it is read with a restricted unpickler: only the handful of
names needed to rebuild tensors are allowed, each mapped to a small NumPy function here; any other name
(``os.system``, ``builtins.eval``, ...) raises :class:`UnsafePickleError` before anything is run.
torch is never imported.

A ``.safetensors`` file is an 8-byte little-endian header length ``n``, ``n`` bytes of JSON
``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}``, then the raw tensor bytes.
"""
import collections
import json
import os
import pickle
import tempfile
import zipfile

import numpy

SUPPORTED = ".npz, .safetensors, .pth, .pt, .bin"
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "network", "params")
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class WeightsError(ValueError):
    """A weight file cannot be read, written or matched to a model."""


class UnsafePickleError(WeightsError):
    """A pickle names a Python object that is not needed to rebuild tensors; nothing of it was run."""


# ---------------------------------------------------------------------------- our .npz format
def save_weights(path, arrays, metadata=None):
    """Write ``arrays`` (name -> array) and JSON ``metadata`` to ``path`` (.npz), atomically.

    Metadata entry ``key`` is stored as the JSON text ``numpy.array(json.dumps(value))`` under ``"__key__"``,
    so the file loads with ``allow_pickle=False``. The file is written next to ``path`` and then renamed.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise WeightsError(f"{path}: weights are saved as .npz; give a file name ending in .npz")
    entries = {}
    for name, array in arrays.items():
        if name.startswith("__"):
            raise WeightsError(f"{path}: weight name {name!r} starts with '__', which marks metadata; "
                               f"rename it")
        entries[name] = numpy.asarray(array)
    for key, value in (metadata or {}).items():
        entries[f"__{key}__"] = numpy.array(json.dumps(value))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WeightsError(f"{path}: folder {folder} does not exist; create it first")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file, zipfile.ZipFile(file, "w", allowZip64=True) as archive:
            for name, array in entries.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    numpy.lib.format.write_array(member, array, allow_pickle=False)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _open_npz(path):
    try:
        npz = numpy.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise WeightsError(f"{path}: not a readable .npz file ({error}); re-create it") from None
    if not isinstance(npz, numpy.lib.npyio.NpzFile):
        raise WeightsError(f"{path}: holds a single .npy array, not an .npz archive; re-create it")
    return npz


def _read_npz_entry(npz, path, key):
    try:
        return npz[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise WeightsError(f"{path}: entry {key!r} is truncated or corrupt ({error}); re-create it") from None


def _load_npz(path):
    with _open_npz(path) as npz:
        return {key: _read_npz_entry(npz, path, key) for key in npz.files if not key.startswith("__")}


def load_npz_metadata(path):
    """The metadata of an .npz written by :func:`save_weights`: ``{key: json.loads(text of "__key__")}``."""
    path = os.fspath(path)
    _check_exists(path)
    metadata = {}
    with _open_npz(path) as npz:
        for key in npz.files:
            if not (key.startswith("__") and key.endswith("__") and len(key) > 4):
                continue
            array = _read_npz_entry(npz, path, key).reshape(-1)
            try:
                is_bytes = array.dtype == numpy.uint8
                text = array.tobytes().decode("utf-8") if is_bytes else "".join(array.tolist())
                metadata[key[2:-2]] = json.loads(text)
            except (UnicodeDecodeError, TypeError, json.JSONDecodeError):
                raise WeightsError(f"{path}: metadata {key!r} is not JSON text; re-save the file") from None
    return metadata


# ---------------------------------------------------------------------------- .safetensors
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                       "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
                       "BOOL": "?"}


def _bfloat16_to_float32(bits):
    """bfloat16 is the top half of a float32: ``float32 bits = bf16 bits << 16``."""
    return (bits.astype(numpy.uint32) << 16).view(numpy.float32)


def _load_safetensors(path):
    corrupt = f"{path}: truncated or corrupt .safetensors file"
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        prefix = file.read(8)
        header_length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 0 < header_length <= min(size - 8, _MAX_HEADER_BYTES):
            raise WeightsError(f"{corrupt} (header length {header_length}); download it again")
        try:
            header = json.loads(file.read(header_length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WeightsError(f"{corrupt} (header is not JSON); download it again") from None
        if not isinstance(header, dict):
            raise WeightsError(f"{corrupt} (header is not a JSON object); download it again")
        data_start, data_length = 8 + header_length, size - 8 - header_length
        arrays = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            try:
                dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
                if not all(isinstance(number, int) for number in (*shape, begin, end)):
                    raise TypeError
            except (TypeError, KeyError, ValueError):
                raise WeightsError(f"{corrupt} (entry {name!r} is malformed); download it again") from None
            if dtype not in _SAFETENSORS_DTYPES:
                raise WeightsError(f"{path}: tensor {name!r} has dtype {dtype}, which is not supported "
                                   f"(supported: {', '.join(_SAFETENSORS_DTYPES)}); convert it to float32")
            item = numpy.dtype(_SAFETENSORS_DTYPES[dtype])
            count = int(numpy.prod(shape, dtype=numpy.int64))
            if (min(shape, default=0) < 0 or not 0 <= begin <= end <= data_length
                    or end - begin != count * item.itemsize):
                raise WeightsError(f"{corrupt} (tensor {name!r}: bytes {begin}..{end} of {data_length} "
                                   f"do not hold shape {shape} of {dtype}); download it again")
            file.seek(data_start + begin)
            array = numpy.fromfile(file, dtype=item, count=count).reshape(shape)
            native = item.newbyteorder("=")
            arrays[name] = (_bfloat16_to_float32(array) if dtype == "BF16"
                            else array.astype(native, copy=False))
    return arrays


# ---------------------------------------------------------------------------- torch zip checkpoints
class _TorchDType:
    """What a pickled ``torch.FloatStorage`` (or ``torch.uint16``) turns into: the NumPy element type."""

    def __init__(self, code):
        self.code = code


_STORAGE_CODES = {"DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
                  "BFloat16Storage": "bf16", "LongStorage": "<i8", "IntStorage": "<i4",
                  "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
                  "ComplexFloatStorage": "<c8", "ComplexDoubleStorage": "<c16"}


def _elements(raw_bytes, code):
    """Storage bytes as an array of its elements, in native byte order (bfloat16 widened to float32)."""
    if code == "bf16":
        return _bfloat16_to_float32(raw_bytes.view("<u2"))
    return raw_bytes.view(code).astype(numpy.dtype(code).newbyteorder("="), copy=False)


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    """``tensor[i] = storage[offset + i . stride]``, checked to stay inside the storage, then copied."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or min(size + stride, default=0) < 0:
        raise ValueError(f"tensor size {size} / stride {stride} is malformed")
    if 0 in size:
        return numpy.zeros(size, dtype=storage.dtype)
    last = storage_offset + sum((n - 1) * step for n, step in zip(size, stride))
    if not 0 <= storage_offset <= last < storage.size:
        raise ValueError(f"tensor reaches element {last} of a storage of {storage.size}")
    start = storage[storage_offset:]
    strides = tuple(step * storage.itemsize for step in stride)
    return numpy.lib.stride_tricks.as_strided(start, size, strides, writeable=False).copy()


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, *_unused):
    """torch >= 2.3 form for dtypes without a typed storage (uint16/32/64): ``storage`` holds raw bytes."""
    return _rebuild_tensor(_elements(storage, dtype.code), storage_offset, size, stride)


def _rebuild_parameter(data, *_unused):
    return data


def _rebuild_from_type_v2(function, new_type, args, state):
    return function(*args)


_TENSOR_TYPE = object()  # stands for torch.Tensor / torch.nn.Parameter: the tensor is returned as an array
_TORCH_GLOBALS = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch.Tensor": _TENSOR_TYPE,
    "torch.nn.parameter.Parameter": _TENSOR_TYPE,
    "torch.storage.UntypedStorage": _TorchDType("u1"),
    **{f"torch.{name}": _TorchDType(code) for name, code in _STORAGE_CODES.items()},
    **{f"torch.uint{bits}": _TorchDType(f"<u{bits // 8}") for bits in (16, 32, 64)},
}
_CONTAINER_GLOBALS = {"collections.OrderedDict": collections.OrderedDict,
                      "builtins.set": set, "builtins.frozenset": frozenset,
                      "__builtin__.set": set, "__builtin__.frozenset": frozenset}  # Python 2 pickles


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in ``allowed``; any other name is refused, never imported."""

    def __init__(self, file, source, allowed, read_storage=None):
        super().__init__(file, encoding="utf-8")
        self.source, self.allowed, self.read_storage = source, allowed, read_storage

    def find_class(self, module, name):
        if f"{module}.{name}" in self.allowed:
            return self.allowed[f"{module}.{name}"]
        raise UnsafePickleError(f"{self.source}: refused to load: its pickle names {module}.{name}, "
                                f"which is not needed for tensors or plain data (nothing was run); "
                                f"use a file you trust, saved as a plain state_dict or .safetensors")

    def persistent_load(self, pid):
        is_storage = isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
        if self.read_storage is None or not is_storage:
            raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:80]}")
        return self.read_storage(pid[1], str(pid[2]))


def restricted_unpickle(fileobj, allowed_extra=None):
    """Unpickle plain data (dict, list, str, int, float, OrderedDict, set) and nothing that runs code.

    ``allowed_extra`` maps further ``"module.name"`` strings to the objects that stand for them.
    """
    source = getattr(fileobj, "name", "pickle")
    allowed = {**_CONTAINER_GLOBALS, **(allowed_extra or {})}
    try:
        return _RestrictedUnpickler(fileobj, source, allowed).load()
    except WeightsError:
        raise
    except Exception as error:
        raise WeightsError(f"{source}: truncated or corrupt pickle ({error}); create it again") from None


def _load_torch(path):
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic[:1] == b"\x80":  # a pickle first: the legacy (non-zip) format, read in its own module
        from hadamard_min.io.legacy_torch import load_legacy_torch
        return load_legacy_torch(path)
    if magic != b"PK\x03\x04":
        raise WeightsError(f"{path}: not a torch zip checkpoint; expected a file written by torch.save")
    corrupt = f"{path}: truncated or corrupt torch checkpoint"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [name for name in names if name.count("/") == 1 and name.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise WeightsError(f"{path}: no <prefix>/data.pkl inside the zip; "
                                   f"expected a file written by torch.save")
            prefix = pickles[0][:-len("data.pkl")]
            byteorder = f"{prefix}byteorder"
            if byteorder in names and archive.read(byteorder).strip() != b"little":
                raise WeightsError(f"{path}: saved on a big-endian machine, which is not supported; "
                                   f"re-save it on a little-endian machine or as .safetensors")
            storages = {}

            def read_storage(dtype, key):
                if not isinstance(dtype, _TorchDType):
                    raise pickle.UnpicklingError(f"storage {key} has no element type")
                if key not in storages:
                    raw = numpy.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=numpy.uint8)
                    storages[key] = _elements(raw, dtype.code)
                return storages[key]

            with archive.open(pickles[0]) as pickled:
                allowed = {**_CONTAINER_GLOBALS, **_TORCH_GLOBALS}
                return _RestrictedUnpickler(pickled, path, allowed, read_storage).load()
    except WeightsError:
        raise
    except Exception as error:
        raise WeightsError(f"{corrupt} ({type(error).__name__}: {error}); download it again") from None


# ---------------------------------------------------------------------------- load + match
def _check_exists(path):
    if not os.path.isfile(path):
        raise WeightsError(f"weights file not found: {path}; check the path (or download/port the weights)")


def _flatten(tree, prefix=""):
    """Nested dicts -> ``{"a.b.c": array}`` (non-array leaves such as epoch numbers are dropped)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, numpy.ndarray):
            flat[f"{prefix}{key}"] = value
    return flat


def _state_dict_of(obj, path):
    """The arrays of a checkpoint: top-level arrays if any; else the one wrapper (state_dict, model, ...)
    holding a dict; else all nested dicts flattened with ``"."``."""
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors; save a state_dict")
    arrays = {str(key): value for key, value in obj.items() if isinstance(value, numpy.ndarray)}
    wrappers = [key for key in WRAPPER_KEYS if isinstance(obj.get(key), dict)]
    if not arrays and len(wrappers) == 1:
        return _state_dict_of(obj[wrappers[0]], path)
    arrays = arrays or _flatten(obj)
    if not arrays:
        raise WeightsError(f"{path}: holds no tensors; expected a state_dict of a model")
    return arrays


def load_weights(path):
    """``{name: numpy array}`` from an .npz, .safetensors or torch zip checkpoint (.pth/.pt/.bin)."""
    path = os.fspath(path)
    _check_exists(path)
    suffix = os.path.splitext(path)[1].lower()
    readers = {".npz": _load_npz, ".safetensors": _load_safetensors,
               ".pth": _load_torch, ".pt": _load_torch, ".bin": _load_torch}
    if suffix not in readers:
        raise WeightsError(f"{path}: unknown weights format {suffix or '(no suffix)'}; "
                           f"supported: {SUPPORTED}")
    try:
        loaded = readers[suffix](path)
    except OSError as error:
        raise WeightsError(f"{path}: cannot read the file ({error.strerror or error})") from None
    return _state_dict_of(loaded, path) if suffix in (".pth", ".pt", ".bin") else loaded


def _listing(kind, names, limit=10):
    shown = ", ".join(names[:limit]) + (f", and {len(names) - limit} more" if len(names) > limit else "")
    return f"{len(names)} {kind}: {shown}"


def match_state_dict(expected, found, source="file"):
    """Check ``found`` (name -> array) against ``expected`` (name -> shape); return ``{name: array}``.

    A leading ``module.`` on every key (saved from DataParallel) is stripped, and BatchNorm's
    ``num_batches_tracked`` counters are dropped unless expected.
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
    problems = [_listing(kind, names) for kind, names in
                (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if names]
    if problems:
        raise WeightsError(f"{source} does not fit the model: {'; '.join(problems)}; "
                           f"check that the weights were made for this model")
    return {name: found[name] for name in expected}
