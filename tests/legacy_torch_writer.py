"""Write torch's legacy (non-zip) checkpoint format by hand, opcode by opcode, so that tests can make
honest files and crafted ones (code in the pickle, storages that declare more bytes than there are,
zero-stride views) without torch.

    magic | protocol 1001 | system info | {name: _rebuild_tensor_v2(storage, offset, size, stride, ...)}
    | sorted storage keys | per key: element count (int64 LE), raw bytes
"""
import pickle
from dataclasses import dataclass

import numpy

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
STORAGE_TYPES = {numpy.dtype("<f4"): "FloatStorage", numpy.dtype("<f8"): "DoubleStorage",
                 numpy.dtype("<f2"): "HalfStorage", numpy.dtype("<i8"): "LongStorage",
                 numpy.dtype("<i4"): "IntStorage", numpy.dtype("u1"): "ByteStorage"}
SYSTEM = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


def value(x):
    """The opcodes that push the plain value ``x`` (str, int, tuple, None, bool), without PROTO and STOP."""
    return pickle.dumps(x, protocol=2)[2:-1]


def global_(module, name):
    """GLOBAL: push the object ``module.name`` (what the reader is asked to resolve)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call(module, name, *args):
    """``module.name(*args)`` as opcodes: GLOBAL, MARK, the arguments, TUPLE, REDUCE."""
    return global_(module, name) + b"(" + b"".join(args) + b"tR"


@dataclass
class Tensor:
    name: str
    key: str                   # the storage it views
    size: tuple
    stride: tuple
    offset: int = 0
    view: tuple = None         # (view key, offset, size): the old storage-view form


def persistent_id(storage_type, key, numel, view=None):
    """("storage", torch.<type>, key, "cpu", numel, view) as a persistent id (BINPERSID)."""
    return (b"(" + value("storage") + global_("torch", storage_type) + value(key) + value("cpu") + value(numel)
            + value(view) + b"tQ")


def tensor_opcodes(tensor, storage_type, numel):
    hooks = call("collections", "OrderedDict")
    return call("torch._utils", "_rebuild_tensor_v2", persistent_id(storage_type, tensor.key, numel, tensor.view),
                value(tensor.offset), value(tuple(tensor.size)), value(tuple(tensor.stride)), value(False), hooks)


def state_dict_pickle(tensors, storages, declared=None, extra=b""):
    """The main pickle: a dict name → tensor; ``extra`` (opcodes pushing a key and a value) is added last."""
    declared = declared or {}
    items = b"".join(value(t.name) + tensor_opcodes(t, STORAGE_TYPES[storages[t.key].dtype],
                                                   declared.get(t.key, storages[t.key].size)) for t in tensors)
    return b"\x80\x02}(" + items + extra + b"u."


def legacy_file(tensors, storages, declared=None, counts=None, extra=b"", system=None, keys=None, main=None):
    """The bytes of a legacy checkpoint. ``storages``: key → 1-D array. ``declared``/``counts``: key → the
    element count the persistent id / the storage record claims (default: the array's). ``main`` replaces
    the whole state-dict pickle, ``keys`` the key list, ``system`` the system information."""
    counts = counts or {}
    head = (pickle.dumps(MAGIC_NUMBER, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps(SYSTEM if system is None else system, protocol=2))
    body = main if main is not None else state_dict_pickle(tensors, storages, declared, extra)
    keys = sorted(storages) if keys is None else keys
    records = b"".join(int(counts.get(key, array.size)).to_bytes(8, "little", signed=True)
                       + array.astype(array.dtype.newbyteorder("<")).tobytes()
                       for key, array in sorted(storages.items()))
    return head + body + (keys if isinstance(keys, bytes) else pickle.dumps(keys, protocol=2)) + records


def contiguous(name, key, array):
    """A tensor that is all of its storage, in C order."""
    strides = tuple(s // array.itemsize for s in array.strides)
    return Tensor(name, key, array.shape, strides)
