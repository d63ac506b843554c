"""Torch checkpoints (``torch.save``) read with NumPy alone: the pickle runs on :mod:`safe_pickle`'s machine.

A torch zip checkpoint (``.pth``/``.pt``/``.bin``) holds ``<prefix>/data.pkl`` and ``<prefix>/data/<key>``:
the pickle describes each tensor as ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` and names its
storage by a persistent id ``("storage", torch.FloatStorage, key, location, numel)``; the storage is the raw
little-endian bytes in ``data/<key>``. A tensor is then the strided view

    tensor[i_0, ..., i_n] = storage[offset + sum_k i_k * stride_k]

Reading goes in three steps that any torch container can share (the zip here; the legacy format of
:mod:`~hadamard_min.io.legacy_torch` keeps its storages after its pickles): :func:`load_torch_pickle` runs
the pickle, turning each persistent id into a :class:`Storage` (a declaration: key, element type, element
count; :func:`storage_of` for the zip's ids) and each rebuild call (``TORCH_CALLS``) into a
:class:`TensorSpec` checked against its storage, still without data; :func:`resolve` checks the tensors
against their storages and charges every one, as often as the pickle refers to it, to the file's
:class:`~hadamard_min.io.limits.Budget`, and only then reads storages (``read_storage``) and copies tensors
out. torch is never imported.
"""
import io
import math
from dataclasses import dataclass

import numpy

from hadamard_min.io.errors import TooLargeError, WeightsError, brief, reported_as_corrupt
from hadamard_min.io.limits import (
    MAX_COPIES,
    MAX_DIMS,
    MAX_TEXT_BYTES,
    Budget,
    check_tree,
    element_count,
    human,
    is_int,
    open_regular,
    opened_size,
)
from hadamard_min.io.safe_pickle import Name, load_pickle
from hadamard_min.io.zips import open_zip

STORAGE_CODES = {"DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2", "BFloat16Storage": "bf16",
                 "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
                 "ByteStorage": "u1", "BoolStorage": "?", "ComplexFloatStorage": "<c8",
                 "ComplexDoubleStorage": "<c16", "storage.UntypedStorage": "u1"}
ELEMENT_CODES = {f"torch.{name}": code for name, code in STORAGE_CODES.items()}
DTYPE_CODES = {f"torch.uint{bits}": f"<u{bits // 8}" for bits in (16, 32, 64)}  # _rebuild_tensor_v3's dtypes
TENSOR_TYPES = ("torch.Tensor", "torch.nn.parameter.Parameter")


def bfloat16_to_float32(bits):
    """bfloat16 is the top half of a float32: ``float32 bits = bf16 bits << 16``."""
    return (bits.astype(numpy.uint32) << 16).view(numpy.float32)


def elements(raw_bytes, code):
    """Storage bytes as an array of its elements, in native byte order (bfloat16 widened to float32)."""
    raw = numpy.frombuffer(raw_bytes, dtype=numpy.uint8)
    if code == "bf16":
        return bfloat16_to_float32(raw.view("<u2"))
    return raw.view(code).astype(numpy.dtype(code).newbyteorder("="), copy=False)


@dataclass(frozen=True)
class Storage:
    """A storage as the file declares it: its key, element type (NumPy code, "bf16") and element count."""
    key: str
    code: str
    numel: int

    @property
    def itemsize(self):
        return 2 if self.code == "bf16" else numpy.dtype(self.code).itemsize

    @property
    def copied_itemsize(self):
        """The bytes of one element once read (bfloat16 becomes float32)."""
        return 4 if self.code == "bf16" else self.itemsize


@dataclass(frozen=True, eq=False)
class TensorSpec:
    """A tensor checked against its storage, not yet read: ``storage[offset + i · stride]`` for i < size."""
    storage: Storage
    offset: int
    size: tuple
    stride: tuple

    @property
    def nbytes(self):
        """The bytes of the copy it becomes (bfloat16 becomes float32)."""
        return math.prod(self.size) * self.storage.copied_itemsize


def storage_of(pid, sizes=None):
    """The :class:`Storage` of a zip checkpoint's persistent id ``("storage", type, key, location, numel)``.

    ``sizes`` (key -> bytes the file holds for it), when given, must agree with the declared count.
    """
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
        raise ValueError(f"unsupported persistent id {brief(pid)}")
    _, kind, key, _, numel = pid
    if not (isinstance(kind, Name) and kind.text in ELEMENT_CODES and isinstance(key, str) and is_int(numel)
            and numel >= 0):
        raise ValueError(f"malformed storage id {brief(pid)}")
    storage = Storage(key, ELEMENT_CODES[kind.text], numel)
    if sizes is not None and sizes.get(key) != numel * storage.itemsize:
        raise ValueError(f"storage {key} declares {numel * storage.itemsize} bytes, the file holds "
                         f"{sizes.get(key, 'no entry')}")
    return storage


def _rebuild_tensor(storage, offset, size, stride, *_unused):
    """``tensor[i] = storage[offset + i . stride]``, checked to stay inside the storage (nothing read yet)."""
    size, stride = tuple(size), tuple(stride)
    numbers = (offset, *size, *stride)
    if not isinstance(storage, Storage) or not all(is_int(n) and n >= 0 for n in numbers):
        raise ValueError(f"tensor of size {brief(size)}, stride {brief(stride)} is malformed")
    if len(size) != len(stride) or len(size) > MAX_DIMS:
        raise ValueError(f"tensor has {len(size)} sizes and {len(stride)} strides (at most {MAX_DIMS})")
    if math.prod(size):
        last = offset + sum((n - 1) * step for n, step in zip(size, stride))
        if last >= storage.numel:
            raise ValueError(f"tensor reaches element {last} of a storage of {storage.numel}")
    return TensorSpec(storage, offset, size, stride)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, *_unused):
    """torch >= 2.3 form for dtypes without a typed storage (uint16/32/64): ``storage`` counts bytes."""
    if not (isinstance(dtype, Name) and dtype.text in DTYPE_CODES and isinstance(storage, Storage)):
        raise ValueError(f"unsupported tensor type {brief(dtype)}")
    code = DTYPE_CODES[dtype.text]
    nbytes = storage.numel * storage.itemsize
    retyped = Storage(storage.key, code, nbytes // numpy.dtype(code).itemsize)
    return _rebuild_tensor(retyped, offset, size, stride)


def _rebuild_parameter(data, *_unused):
    if not isinstance(data, TensorSpec):
        raise ValueError("a parameter without a tensor")
    return data


def _rebuild_from_type_v2(function, new_type, args, state):
    """A tensor subclass: rebuilt as a plain tensor by one of the rebuild calls."""
    if not (isinstance(function, Name) and function.text in _REBUILD and isinstance(new_type, Name)
            and new_type.text in TENSOR_TYPES and isinstance(args, tuple)):
        raise ValueError(f"unsupported tensor rebuild {brief(function)}")
    return _REBUILD[function.text](*args)


_REBUILD = {"torch._utils._rebuild_tensor": _rebuild_tensor, "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
            "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
            "torch._utils._rebuild_parameter": _rebuild_parameter,
            "torch._utils._rebuild_parameter_with_state": _rebuild_parameter}
TORCH_CALLS = {**_REBUILD, "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2}
TORCH_NAMES = (*ELEMENT_CODES, *DTYPE_CODES, *TENSOR_TYPES)  # names that are passed around, never called


def load_torch_pickle(stream, source, persistent_load):
    """A torch pickle at ``stream`` run on the safe machine: plain data with a :class:`TensorSpec` per tensor.

    ``persistent_load(pid)`` returns the :class:`Storage` a persistent id declares (:func:`storage_of` for a
    zip checkpoint's ids; a legacy file's ids carry a view description too). Follow with :func:`resolve`.
    """
    return load_pickle(stream, source, names=TORCH_NAMES, calls=TORCH_CALLS, persistent_load=persistent_load)


def _copy_out(spec, storage, source):
    """The tensor ``spec`` describes, copied out of ``storage`` (its elements as read, one array per key)."""
    if math.prod(spec.size) == 0:
        return numpy.zeros(spec.size, dtype=storage.dtype)
    if spec.offset + sum((n - 1) * step for n, step in zip(spec.size, spec.stride)) >= storage.size:
        raise WeightsError(f"{source}: a tensor of size {spec.size} reaches past the {storage.size:,} elements "
                           f"of its storage; the file is corrupt")
    strides = tuple(step * storage.itemsize for step in spec.stride)
    view = numpy.lib.stride_tricks.as_strided(storage[spec.offset:], spec.size, strides, writeable=False)
    return view.copy()


def resolve(tree, source, budget, read_storage):
    """``tree`` with every :class:`TensorSpec` replaced by its array (containers copied as plain ones).

    Before anything is read: every storage key has one element type and one element count, whichever
    tensor names it (each tensor was checked to lie inside that storage); every axis of a tensor is bounded
    (``limits.element_count``); no tensor may hold more than ``MAX_COPIES`` times the elements of its storage
    (torch saves an ``expand``-ed tensor as a zero-stride view; one of gigantic size is refused), all
    tensors together, each counted as often as the tree reaches it, at most ``MAX_COPIES`` times the bytes
    of the storages they view, and that total is charged to ``budget``.
    ``read_storage(storage)`` returns a storage's elements (see :func:`elements`) and is called once per key.
    """
    declared, stored = {}, {}  # storage key -> its Storage; -> bytes of its elements once read

    def measure(node):
        if not isinstance(node, TensorSpec):
            return 0
        if declared.setdefault(node.storage.key, node.storage) != node.storage:
            first = declared[node.storage.key]
            raise WeightsError(f"{source}: storage {node.storage.key[:40]!r} is declared as {first.numel:,} "
                               f"elements of {first.code} and as {node.storage.numel:,} of {node.storage.code}; "
                               f"the file is corrupt or crafted")
        if math.prod(node.size) > MAX_COPIES * node.storage.numel:
            raise TooLargeError(f"{source}: a tensor of shape {node.size} views a storage of only "
                                f"{node.storage.numel:,} elements (a zero-stride or malformed view); refused "
                                f"before allocating it")
        element_count(node.size, source, "a tensor")
        stored[node.storage.key] = node.storage.numel * node.storage.copied_itemsize
        return node.nbytes

    reachable = check_tree(tree, source, nbytes=measure)
    if reachable > MAX_COPIES * sum(stored.values()):
        raise TooLargeError(f"{source}: its tensors would hold {human(reachable)}, more than {MAX_COPIES} times "
                            f"the bytes of its storages ({human(sum(stored.values()))}); refused before "
                            f"allocating them")
    budget.spend(reachable, "its tensors, each counted as often as the file refers to it,")
    storages, tensors = {}, {}

    def build(node):  # the depth is at most limits.MAX_DEPTH (checked above)
        if isinstance(node, TensorSpec):
            if id(node) not in tensors:
                key = node.storage.key
                if key not in storages:
                    storages[key] = read_storage(node.storage)
                tensors[id(node)] = _copy_out(node, storages[key], source)
            return tensors[id(node)]
        if isinstance(node, dict | set | frozenset) and any(isinstance(key, TensorSpec) for key in node):
            raise WeightsError(f"{source}: a tensor is used as a dict key or set member; the file is corrupt")
        if isinstance(node, dict):
            return type(node)((key, build(value)) for key, value in node.items())
        if isinstance(node, list | tuple):
            return type(node)(build(value) for value in node)
        return node

    return build(tree)


def load_torch_zip(path):
    """The object a torch zip checkpoint holds, its tensors as NumPy arrays."""
    with open_regular(path) as file:
        if file.read(4) != b"PK\x03\x04":
            raise WeightsError(f"{path}: not a torch zip checkpoint; expected a file written by torch.save")
        budget = Budget(path, opened_size(file, path))
        with reported_as_corrupt(path, "torch checkpoint"), \
                open_zip(file, path, "truncated or corrupt torch checkpoint", "download it again") as archive:
            return _read_zip(path, archive, budget)


def _read_zip(path, archive, budget):
    expected = "expected a file written by torch.save"
    infos = {info.filename: info for info in archive.infolist()}  # counted and distinct (zips.open_zip)
    pickles = [name for name in infos if name.count("/") == 1 and name.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise WeightsError(f"{path}: no <prefix>/data.pkl inside the zip; {expected}")
    if infos[pickles[0]].file_size > MAX_TEXT_BYTES:
        raise WeightsError(f"{path}: its data.pkl declares {infos[pickles[0]].file_size:,} bytes; {expected}")
    prefix = pickles[0][:-len("data.pkl")]
    byteorder = infos.get(f"{prefix}byteorder")
    if byteorder is not None and (byteorder.file_size > 16 or archive.read(byteorder).strip() != b"little"):
        raise WeightsError(f"{path}: saved on a big-endian machine, which is not supported; "
                           f"re-save it on a little-endian machine or as .safetensors")
    data = f"{prefix}data/"
    sizes = {name[len(data):]: info.file_size for name, info in infos.items() if name.startswith(data)}

    def read_storage(storage):
        budget.spend(sizes[storage.key], f"storage {storage.key}")
        return elements(archive.read(data + storage.key), storage.code)

    tree = load_torch_pickle(io.BytesIO(archive.read(pickles[0])), path, lambda pid: storage_of(pid, sizes))
    return resolve(tree, path, budget, read_storage)
