"""Read torch's legacy (non-zip) checkpoint format with NumPy alone, without running any code it contains.

``torch.save(obj, f, _use_new_zipfile_serialization=False)``, and every torch before 1.6, writes five
pickles and then the raw storages, one after another:

    1. the magic number 0x1950a86a20f9469cfc6c      2. the format's protocol version, 1001
    3. system information {"little_endian": True, "type_sizes": {...}}
    4. the object itself; each storage is a persistent id
       ("storage", FloatStorage, key, location, numel, view) and each tensor
       _rebuild_tensor_v2(storage, offset, size, stride, ...)
    5. the list of storage keys, in the order their bytes follow
    then, per key: the element count (int64, little-endian) and that many elements of raw bytes.

The storages come after the pickle that uses them, so each tensor is first recorded as pending (its
storage, offset, size and stride) and rebuilt, by the zip format's own function, once the raw storages
are located. Checks, all before anything is allocated from a number the file declares:

* each pickle's extent is found by walking its opcodes (``pickletools.genops``, which runs nothing and
  reads no more bytes than are there), so every length a pickle declares is known to fit in the file
  before the unpickler allocates it;
* the pickles are read by the restricted unpickler of :mod:`hadamard_min.io.weights`: only the names
  that rebuild tensors resolve, any other (``os.system``, ``builtins.eval``, …) is refused unrun;
* a storage's element count must match the one its persistent id declared and fit in the bytes left;
* a tensor may not hold more elements than its storage (a zero-stride view of gigantic size), and all
  tensors together at most ``MAX_COPIES`` times the bytes the storages hold.
"""
import io
import math
import pickle
import pickletools

import numpy

from hadamard_min.io.weights import (
    _CONTAINER_GLOBALS,
    _TORCH_GLOBALS,
    WeightsError,
    _elements,
    _RestrictedUnpickler,
    _TorchDType,
)

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
MAX_COPIES = 4  # tensors may repeat storage bytes (tied weights) up to this many times, not more
_HEAD_OPCODES = ("PROTO", "FRAME", "MEMOIZE", "BINPUT", "STOP")


def starts_with_magic_number(head):
    """Whether the bytes ``head`` begin with torch's pickled magic number (the legacy format's first pickle)."""
    values = []
    try:
        for opcode, argument, _ in pickletools.genops(io.BytesIO(head)):
            if opcode.name not in _HEAD_OPCODES:
                values.append((opcode.name, argument))
            if opcode.name == "STOP":
                break
    except ValueError:
        return False
    return len(values) == 1 and values[0][0].startswith("LONG") and values[0][1] == MAGIC_NUMBER


def _pickle_end(data, start):
    """The offset just past the pickle that starts at ``start``: its opcodes are walked, nothing is run."""
    stream = io.BytesIO(data)
    stream.seek(start)
    for _ in pickletools.genops(stream):
        pass
    return stream.tell()


class _PendingTensor:
    """A tensor whose storage bytes come later in the file: ``rebuild(storage, *args)`` once they are read."""

    def __init__(self, rebuild, storage, args):
        self.rebuild, self.storage, self.args = rebuild, storage, args


def _pending(rebuild):
    return lambda storage, *args: _PendingTensor(rebuild, storage, args)


_REBUILDERS = ("torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3")
_LEGACY_GLOBALS = {**_CONTAINER_GLOBALS, **_TORCH_GLOBALS,
                   **{name: _pending(_TORCH_GLOBALS[name]) for name in _REBUILDERS}}


class _LegacyUnpickler(_RestrictedUnpickler):
    """The restricted unpickler, reading the legacy persistent id ("storage", type, key, location, numel, view)."""

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:80]}")
        return self.read_storage(*pid[1:])


class _StorageRef:
    """What a persistent id stands for until the raw storages are read: ``count`` elements of storage
    ``key`` from ``offset`` on (a class of this module, so a pickle cannot make one itself)."""

    def __init__(self, key, offset, count):
        self.key, self.offset, self.count = key, offset, count


class _Storages:
    """The storages a legacy pickle declares (key → element type and count), then their elements."""

    def __init__(self, path):
        self.path, self.declared, self.elements = path, {}, {}

    def declare(self, dtype, key, location, numel, view):
        """Called for each persistent id: the :class:`_StorageRef` of the storage, or of the view into it."""
        if not isinstance(dtype, _TorchDType) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"storage {str(key)[:40]} has no element type or count")
        key = str(key)
        if self.declared.setdefault(key, (dtype.code, numel)) != (dtype.code, numel):
            raise pickle.UnpicklingError(f"storage {key} is declared twice with different types or sizes")
        if view is None:
            return _StorageRef(key, 0, numel)
        _, offset, size = view
        if not (isinstance(offset, int) and isinstance(size, int) and 0 <= offset <= offset + size <= numel):
            raise pickle.UnpicklingError(f"a view of storage {key} reaches past its {numel} elements")
        return _StorageRef(key, offset, size)

    def locate(self, data, keys, start):
        """Find each storage's record (count, then raw bytes) from ``start`` on, in the order of ``keys``."""
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise WeightsError(f"{self.path}: the storage key list is not a list of strings; download it again")
        if sorted(set(keys)) != sorted(self.declared) or len(set(keys)) != len(keys):
            raise WeightsError(f"{self.path}: the storage key list does not match the storages the pickle uses "
                               f"({len(keys)} keys for {len(self.declared)} storages); download it again")
        position = start
        for key in keys:
            code, numel = self.declared[key]
            itemsize = 2 if code == "bf16" else numpy.dtype(code).itemsize
            if len(data) - position < 8:
                raise WeightsError(f"{self.path}: truncated: storage {key} has no element count; download it again")
            count = int.from_bytes(data[position:position + 8], "little", signed=True)
            left = len(data) - position - 8
            if count != numel or count * itemsize > left:
                raise WeightsError(f"{self.path}: storage {key} declares {count:,} elements ({count * itemsize:,} "
                                   f"bytes; its pickle said {numel:,}) but {left:,} bytes are left in the file; "
                                   f"the file is truncated or corrupt; download it again")
            raw = numpy.frombuffer(data, dtype=numpy.uint8, count=count * itemsize, offset=position + 8)
            self.elements[key] = _elements(raw, code)
            position += 8 + count * itemsize

    def rebuild(self, tensor, budget):
        """The array of one pending tensor, its element count checked against its storage and ``budget``."""
        ref = tensor.storage
        if not isinstance(ref, _StorageRef):
            raise WeightsError(f"{self.path}: a tensor is rebuilt from something that is not a storage; "
                               f"download it again")
        elements = self.elements[ref.key][ref.offset:ref.offset + ref.count]
        shape = tuple(tensor.args[1]) if len(tensor.args) > 1 else ()
        count = math.prod(shape) if all(isinstance(n, int) and n >= 0 for n in shape) else -1
        if not 0 <= count <= elements.size:
            raise WeightsError(f"{self.path}: a tensor of shape {shape} views a storage of only {elements.size:,} "
                               f"elements (a zero-stride or malformed view); refused before allocating it")
        budget[0] -= count * elements.itemsize
        if budget[0] < 0:
            raise WeightsError(f"{self.path}: its tensors would hold more than {MAX_COPIES} times the bytes of "
                               f"its storages; refused before allocating them")
        return tensor.rebuild(elements, *tensor.args)


def _resolve(tree, storages, budget):
    """``tree`` with every pending tensor replaced by its array (dicts, lists and tuples are walked)."""
    if isinstance(tree, _PendingTensor):
        return storages.rebuild(tree, budget)
    if isinstance(tree, dict):
        for key, value in tree.items():
            tree[key] = _resolve(value, storages, budget)
        return tree
    if isinstance(tree, (list, tuple)):
        resolved = [_resolve(value, storages, budget) for value in tree]
        return type(tree)(resolved) if isinstance(tree, tuple) else resolved
    return tree


def _unpickle(data, start, end, path, allowed, read_storage=None):
    unpickler = _LegacyUnpickler(io.BytesIO(data[start:end]), path, allowed, read_storage)
    return unpickler.load()


def load_legacy_torch(path):
    """The object saved in a legacy torch checkpoint, tensors as NumPy arrays; nothing in the file is run."""
    with open(path, "rb") as file:
        data = file.read()
    if not starts_with_magic_number(data[:64]):
        raise WeightsError(f"{path}: a pickle, not a torch checkpoint (no torch magic number at its start); "
                           f"expected a file written by torch.save")
    try:
        return _load(data, path)
    except WeightsError:
        raise
    except Exception as error:
        raise WeightsError(f"{path}: truncated or corrupt legacy torch checkpoint ({type(error).__name__}: "
                           f"{str(error)[:200]}); download it again") from None


def _load(data, path):
    bounds, start = [], 0
    for _ in range(5):
        end = _pickle_end(data, start)
        bounds.append((start, end))
        start = end
    _, protocol, system, main, keys = bounds
    if _unpickle(data, *protocol, path, _CONTAINER_GLOBALS) != PROTOCOL_VERSION:
        raise WeightsError(f"{path}: unknown legacy torch protocol; re-save it with a recent torch")
    system = _unpickle(data, *system, path, _CONTAINER_GLOBALS)
    if not isinstance(system, dict) or system.get("little_endian") is not True:
        raise WeightsError(f"{path}: saved on a big-endian machine (or no system information), which is not "
                           f"supported; re-save it on a little-endian machine or as .safetensors")
    storages = _Storages(path)
    tree = _unpickle(data, *main, path, _LEGACY_GLOBALS, storages.declare)
    storages.locate(data, _unpickle(data, *keys, path, _CONTAINER_GLOBALS), keys[1])
    stored = sum(array.nbytes for array in storages.elements.values())
    return _resolve(tree, storages, [MAX_COPIES * stored])
