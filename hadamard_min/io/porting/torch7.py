"""Read Torch7 files (``torch.save`` in Lua, usually ``*.t7``): the subset that weight files use.

A file holds one object written by Torch7's ``File:writeObject`` in binary mode (little-endian): a 4-byte
type tag, then the value.

    tag 0  nil        nothing follows
    tag 1  number     float64
    tag 2  string     int32 length n, then n bytes
    tag 3  table      int32 reference index; when new: int32 count, then count × (key object, value object)
    tag 4  torch      int32 reference index; when new: string "V <version>", string class name, class data
    tag 5  boolean    int32 (0 or 1)

A reference index read before stands for the same object again (tensors sharing one storage).
Class data of a tensor ``torch.<Type>Tensor``: int32 n, int64 size[n], int64 stride[n], int64
storageOffset (1-based), then its storage as an object; of a storage ``torch.<Type>Storage``: int64 size,
then that many raw elements. A tensor is the strided view

    tensor[i_0, …, i_{n−1}] = storage[storageOffset − 1 + Σ_k i_k · stride_k]

Any other class (``nn.Linear``, ``nn.Sequential``, …) writes its fields as one table, read here as a
:class:`TorchObject`. GPU types (``torch.CudaTensor``, ``torch.CudaStorage``) hold float32 data and are
read as their CPU counterparts. Lua functions (tags 6-8) and ASCII-mode files are refused.

Every declared size is checked before it is used (``io.limits``): a table's entry count against the bytes
left and, for all tables together, ``MAX_ITEMS``; a tensor's every axis (``limits.element_count``) and its
bytes against the file's budget before it is copied out; objects nested at most ``MAX_DEPTH`` deep; and the
whole result walked once for shared references (counted every time they are reached) and objects that
contain themselves.
"""
import struct
from dataclasses import dataclass, field

import numpy

from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import (
    MAX_DEPTH,
    MAX_ITEMS,
    Budget,
    check_tree,
    element_count,
    file_size,
    open_regular,
    plain_children,
)

NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN = range(6)
_ELEMENT_TYPES = {"Double": "<f8", "Float": "<f4", "Half": "<f2", "Long": "<i8", "Int": "<i4",
                  "Short": "<i2", "Char": "i1", "Byte": "u1", "": "<f4"}  # "" : torch.CudaTensor = float


class T7Error(WeightsError):
    """A Torch7 file cannot be read, or does not hold what was expected."""


@dataclass
class TorchObject:
    """An instance of a Torch7 class other than a tensor or storage: its class name and its fields."""
    class_name: str
    fields: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.fields[name]

    def get(self, name, default=None):
        return self.fields.get(name, default)


def _element_type(class_name, kind):
    """``torch.FloatTensor`` / ``torch.CudaDoubleStorage`` … → NumPy element type, or None if not ours."""
    if not (class_name.startswith("torch.") and class_name.endswith(kind)):
        return None
    name = class_name[len("torch."):-len(kind)]
    name = name[len("Cuda"):] if name.startswith("Cuda") else name
    return _ELEMENT_TYPES.get(name)


class _Reader:
    """Reads objects from the bytes of a whole file, remembering every table and torch object by index."""

    def __init__(self, data, source):
        self.data, self.source, self.position, self.objects = memoryview(data), source, 0, {}
        self.storages = {}  # id → each array read as a Storage (held here, so no other object takes its id)
        self.entries = 0  # table entries declared so far, bounded before each table is read
        self.budget = Budget(source, len(data))

    def fail(self, what):
        raise T7Error(f"{self.source}: {what} at byte {self.position}; the file is not a binary Torch7 "
                      f"file or is truncated (re-save it with torch.save in binary mode)")

    def take(self, count, dtype):
        """``count`` elements of ``dtype`` from the current position (a read-only view)."""
        dtype = numpy.dtype(dtype)
        end = self.position + count * dtype.itemsize
        if count < 0 or end > len(self.data):
            self.fail(f"{count} elements of {dtype.name} run past the end of the file")
        values = numpy.frombuffer(self.data[self.position:end], dtype=dtype)
        self.position = end
        return values

    def scalar(self, code, size):
        """One little-endian number (``struct`` code), read without making an array: tables hold millions."""
        if self.position + size > len(self.data):
            self.fail(f"a {size}-byte number runs past the end of the file")
        self.position += size
        return struct.unpack_from(code, self.data, self.position - size)[0]

    def int32(self):
        return self.scalar("<i", 4)

    def int64(self):
        return self.scalar("<q", 8)

    def string(self):
        return bytes(self.take(self.int32(), "u1")).decode("utf-8", errors="replace")

    def read(self, depth=0):
        """The next object: None, float, str, bool, dict/list (tables), array or TorchObject."""
        if depth > MAX_DEPTH:
            self.fail(f"objects nested deeper than {MAX_DEPTH}")
        tag = self.int32()
        if tag == NIL:
            return None
        if tag == NUMBER:
            return self.scalar("<d", 8)
        if tag == STRING:
            return self.string()
        if tag == BOOLEAN:
            return self.int32() == 1
        if tag in (TABLE, TORCH):
            index = self.int32()
            if index in self.objects:
                return self.objects[index]
            return self.read_table(index, depth) if tag == TABLE else self.read_torch(index, depth)
        if tag in (6, 7, 8):
            self.fail("a Lua function (not data)")
        self.fail(f"unknown type tag {tag}")

    def read_table(self, index, depth):
        """A Lua table: a list when its keys are exactly 1..n, else a dict (integral numbers as ints)."""
        table = self.objects[index] = {}
        count = self.int32()
        self.entries += 2 * max(count, 0)  # a key and a value, as check_tree counts them
        if count * 8 > len(self.data) - self.position or self.entries > MAX_ITEMS:  # an entry: 2 tags at least
            self.fail(f"a table of {count:,} entries (keys and values: {self.entries:,} in all, at most "
                      f"{MAX_ITEMS:,}; each entry 8 bytes at least, {len(self.data) - self.position:,} left)")
        for _ in range(count):
            key = self.read(depth + 1)
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            if isinstance(key, dict | list | numpy.ndarray | TorchObject):
                self.fail("a table used as a key")
            table[key] = self.read(depth + 1)
        if table and set(table) == set(range(1, len(table) + 1)):
            self.objects[index] = [table[i] for i in range(1, len(table) + 1)]
        return self.objects[index]

    def read_torch(self, index, depth):
        version = self.string()
        class_name = self.string() if version.startswith("V ") else version  # files older than "V 1"
        if (dtype := _element_type(class_name, "Storage")) is not None:
            array = self.take(self.int64(), dtype)
            self.storages[id(array)] = array
        elif (dtype := _element_type(class_name, "Tensor")) is not None:
            array = self.read_tensor(dtype, depth)
        else:
            obj = self.objects[index] = TorchObject(class_name)
            fields = self.read(depth + 1)
            if not isinstance(fields, dict | list):
                self.fail(f"{class_name} has no field table")
            obj.fields = fields if isinstance(fields, dict) else dict(enumerate(fields, 1))
            return obj
        self.objects[index] = array
        return array

    def read_tensor(self, dtype, depth):
        """A tensor as a NumPy array of its own (copied out of the storage)."""
        dims = self.int32()
        if not 0 <= dims <= 64:
            self.fail(f"a tensor with {dims} dimensions")
        size, stride = tuple(self.take(dims, "<i8").tolist()), tuple(self.take(dims, "<i8").tolist())
        offset = self.int64() - 1
        storage = self.read(depth + 1)
        if not all(n >= 0 for n in size + stride):
            self.fail(f"a tensor of size {size} and stride {stride}")
        try:
            count = element_count(size, self.source, f"a tensor at byte {self.position}")
        except WeightsError as error:
            raise T7Error(str(error)) from None
        self.budget.spend(count * numpy.dtype(dtype).itemsize, f"a tensor of size {size}")
        if dims == 0 or 0 in size:
            return numpy.zeros(size if dims else (0,), dtype=numpy.dtype(dtype).newbyteorder("="))
        if not isinstance(storage, numpy.ndarray) or self.storages.get(id(storage)) is not storage:  # e.g. a tensor
            self.fail("a tensor without a valid storage")
        if storage.dtype != numpy.dtype(dtype):
            self.fail(f"a tensor of {numpy.dtype(dtype)} over a storage of {storage.dtype}")
        last = offset + sum((n - 1) * step for n, step in zip(size, stride))
        if not 0 <= offset <= last < storage.size:
            self.fail(f"a tensor reaching element {last} of a storage of {storage.size}")
        strides = tuple(step * storage.itemsize for step in stride)
        view = numpy.lib.stride_tricks.as_strided(storage[offset:], size, strides, writeable=False)
        return view.astype(storage.dtype.newbyteorder("="))


def _children(node):
    return plain_children(node.fields) if isinstance(node, TorchObject) else plain_children(node)


def read_t7(path):
    """The object stored in a binary Torch7 file (see the module docstring for what each type becomes)."""
    try:
        file_size(path)
        with open_regular(path) as file:
            data = file.read()
    except OSError as error:
        raise T7Error(f"{path}: cannot read the file ({error.strerror or error})") from None
    if data[:1].isdigit():
        raise T7Error(f"{path}: an ASCII-mode Torch7 file; re-save it in binary mode "
                      f"(torch.save(path, object) without 'ascii')")
    result = _Reader(data, str(path)).read()
    reachable = check_tree(result, str(path), _children,
                           lambda node: node.nbytes if isinstance(node, numpy.ndarray) else 0)
    Budget(str(path), len(data)).spend(reachable, "its tensors, each counted as often as the file refers to it,")
    return result


def module_parameters(obj, source="the file"):
    """The parameter arrays of an ``nn`` module in Torch7's ``module:parameters()`` order.

    A container (a module with a ``modules`` table, numbered) gives its children's parameters in order; any
    other module gives its ``weight`` then its ``bias``, those it has (``nn.LinearNoBias`` has no bias).
    """
    if not isinstance(obj, TorchObject):
        return []
    children = obj.get("modules")  # no cycles, at most MAX_DEPTH deep: read_t7 checked
    if isinstance(children, dict):
        named = [key for key in children if not isinstance(key, int | float) or isinstance(key, bool)]
        if named:
            raise T7Error(f"{source}: a module's modules table has keys that are not numbers "
                          f"({', '.join(repr(key)[:30] for key in named[:3])}); Torch7's containers number their "
                          f"children: the file is corrupt or crafted")
        children = [children[key] for key in sorted(children)]
    if isinstance(children, list):
        return [array for child in children for array in module_parameters(child, source)]
    return [obj.get(name) for name in ("weight", "bias") if isinstance(obj.get(name), numpy.ndarray)]
