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

Only the container differs from a zip checkpoint, so only the container is read here: each pickle runs on
the safe machine (:mod:`~hadamard_min.io.safe_pickle`, which stops right after a pickle, so the next one
follows), the object pickle through :func:`~hadamard_min.io.torch_files.load_torch_pickle`, which turns
each tensor into a ``TensorSpec`` checked against its storage, and :func:`~hadamard_min.io.torch_files.resolve`
copies the tensors out under the file's :class:`~hadamard_min.io.limits.Budget`. What is checked here,
before anything is allocated from a number the file declares: every storage record's element count agrees
with its persistent id and fits in the bytes left in the file, and the key list names exactly the storages
the pickle uses. An old storage view ``(view key, offset, numel)`` becomes a storage of its own, read from
its base at that offset.
"""
import io

from hadamard_min.io.errors import WeightsError, brief, reported_as_corrupt
from hadamard_min.io.limits import Budget, file_size, is_int, open_regular
from hadamard_min.io.safe_pickle import load_pickle
from hadamard_min.io.torch_files import Storage, elements, load_torch_pickle, resolve, storage_of

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


def _is_magic(value):
    return is_int(value) and value == MAGIC_NUMBER


def starts_with_magic_number(head):
    """Whether the bytes ``head`` begin with torch's pickled magic number (the legacy format's first pickle)."""
    try:
        return _is_magic(load_pickle(io.BytesIO(head), "head", limit=len(head)))
    except WeightsError:
        return False


class _Clamped:
    """The open file, read so that no read asks for more bytes than the file has left: a length a pickle
    declares is never allocated beyond what the file holds."""

    def __init__(self, file, size):
        self.file, self.size = file, size

    def read(self, n=-1):
        left = max(self.size - self.file.tell(), 0)
        return self.file.read(left if n is None or n < 0 else min(n, left))

    def readline(self, limit=-1):
        return self.file.readline(limit)

    def tell(self):
        return self.file.tell()


class _Storages:
    """The storages the object pickle declares, where their bytes lie in the file, and how to read them."""

    def __init__(self, path, file, size, budget):
        self.path, self.file, self.size, self.budget = path, file, size, budget
        self.declared, self.views, self.offsets = {}, {}, {}  # key -> Storage; view key -> (base key, offset)

    def declare(self, pid):
        """A persistent id ("storage", type, key, location, numel, view) -> its :class:`Storage`."""
        if not (isinstance(pid, tuple) and len(pid) == 6):
            raise ValueError(f"unsupported persistent id {brief(pid)}")
        storage, view = storage_of(pid[:5]), pid[5]
        if storage.key in self.views or self.declared.setdefault(storage.key, storage) != storage:
            raise ValueError(f"storage {storage.key[:40]} is declared twice with different types or sizes")
        if view is None:
            return storage
        if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[0], str) and is_int(view[1])
                and is_int(view[2]) and 0 <= view[1] <= view[1] + view[2] <= storage.numel):
            raise ValueError(f"a view {brief(view)} of storage {storage.key[:40]} reaches past its "
                             f"{storage.numel} elements")
        key, offset, numel = view
        if key in self.declared or self.views.setdefault(key, (storage.key, offset, numel)) != (storage.key,
                                                                                                 offset, numel):
            raise ValueError(f"storage view {key[:40]} is declared twice differently")
        return Storage(key, storage.code, numel)

    def locate(self, keys, position):
        """Find each storage's record (count, then raw bytes) from ``position`` on, in the order of ``keys``."""
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise WeightsError(f"{self.path}: the storage key list is not a list of strings; download it again")
        if len(set(keys)) != len(keys) or set(keys) != set(self.declared):
            raise WeightsError(f"{self.path}: the storage key list does not match the storages the pickle uses "
                               f"({len(keys)} keys for {len(self.declared)} storages); download it again")
        for key in keys:
            storage = self.declared[key]
            if self.size - position < 8:
                raise WeightsError(f"{self.path}: truncated: storage {key} has no element count; download it again")
            self.file.seek(position)
            count = int.from_bytes(self.file.read(8), "little", signed=True)
            nbytes, left = count * storage.itemsize, self.size - position - 8
            if count != storage.numel or nbytes > left:
                raise WeightsError(f"{self.path}: storage {key} declares {count:,} elements ({nbytes:,} bytes; "
                                   f"its pickle said {storage.numel:,}) but {left:,} bytes are left in the file; "
                                   f"the file is truncated or corrupt; download it again")
            self.offsets[key] = position + 8
            position += 8 + nbytes

    def read(self, storage):
        """The elements of a located storage (or of a view into one), charged to the file's budget."""
        base, offset, _ = self.views.get(storage.key, (storage.key, 0, storage.numel))
        nbytes = storage.numel * storage.itemsize
        self.budget.spend(nbytes, f"storage {storage.key}")
        self.file.seek(self.offsets[base] + offset * self.declared[base].itemsize)
        raw = self.file.read(nbytes)
        if len(raw) != nbytes:
            raise WeightsError(f"{self.path}: the file changed while it was read; read it again")
        return elements(raw, storage.code)


def load_legacy_torch(path):
    """The object saved in a legacy torch checkpoint, tensors as NumPy arrays; nothing in the file is run."""
    size = file_size(path)
    with open_regular(path) as file:
        if not starts_with_magic_number(file.read(64)):
            raise WeightsError(f"{path}: a pickle, not a torch checkpoint (no torch magic number at its start); "
                               f"expected a file written by torch.save")
        file.seek(0)
        with reported_as_corrupt(path, "legacy torch checkpoint"):
            return _read(path, file, size)


def _read(path, file, size):
    stream = _Clamped(file, size)
    if not _is_magic(load_pickle(stream, path)) or load_pickle(stream, path) != PROTOCOL_VERSION:
        raise WeightsError(f"{path}: unknown legacy torch protocol; re-save it with a recent torch")
    system = load_pickle(stream, path)
    if not isinstance(system, dict) or system.get("little_endian") is not True:
        raise WeightsError(f"{path}: saved on a big-endian machine (or no system information), which is not "
                           f"supported; re-save it on a little-endian machine or as .safetensors")
    budget = Budget(path, size)
    storages = _Storages(path, file, size, budget)
    tree = load_torch_pickle(stream, path, storages.declare)
    storages.locate(load_pickle(stream, path), file.tell())
    return resolve(tree, path, budget, storages.read)
