"""Hostile files built byte by byte: pickles, zips that declare more than they hold, Torch7 files, PNG headers.

Nothing here uses torch or a writer of the format: each file is exactly what is written, so a test can
declare sizes a real writer never would.
"""
import json
import struct
import zlib

import numpy

# --------------------------------------------------------------------------- pickle opcodes (protocol 2)
PROTO, STOP, MARK, TUPLE, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE = b"\x80\x02", b".", b"(", b"t", b"}", b"]", b")"
SETITEM, SETITEMS, APPEND, BUILD, REDUCE, BINPERSID, NONE, NEWFALSE = b"s", b"u", b"a", b"b", b"R", b"Q", b"N", b"\x89"
APPENDS = b"e"
POP = b"0"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(value):
    data = value.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def integer(value):
    if 0 <= value < 2 ** 31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data if len(data) < 256 else b"\x8b" + struct.pack("<I", len(data)) + data


def put(index):
    return b"r" + struct.pack("<I", index)


def get(index):
    return b"j" + struct.pack("<I", index)


def tuple_of(*items):
    return MARK + b"".join(items) + TUPLE


def pickle_of(*body):
    return PROTO + b"".join(body) + STOP


def storage(key, numel, kind="FloatStorage"):
    """A persistent id ``("storage", torch.<kind>, key, "cpu", numel)`` and BINPERSID."""
    return tuple_of(text("storage"), glob("torch", kind), text(key), text("cpu"), integer(numel)) + BINPERSID


def tensor(storage_ops, size, stride, offset=0):
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""
    return (glob("torch._utils", "_rebuild_tensor_v2") + MARK + storage_ops + integer(offset)
            + tuple_of(*map(integer, size)) + tuple_of(*map(integer, stride)) + NEWFALSE
            + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)


def state_dict(*items):
    """``{name: value}`` from (name, pickle ops) pairs, as a plain dict."""
    return EMPTY_DICT + MARK + b"".join(text(name) + value for name, value in items) + SETITEMS


# --------------------------------------------------------------------------- zip archives, declared sizes free
def _zip64_extra(*values):
    return struct.pack("<HH", 1, 8 * len(values)) + b"".join(struct.pack("<Q", v) for v in values)


def raw_zip(entries):
    """A zip of ``(name, data, declared_size, deflated)`` entries; the declared size is written as given,
    whatever ``data`` inflates to, with ZIP64 fields (any size). A deflated entry's CRC is left 0: a reader
    that checks sizes first never gets that far."""
    body, directory = b"", b""
    for name, data, declared, deflated in entries:
        name = name.encode()
        method, crc = (8 if deflated else 0), (0 if deflated else zlib.crc32(data))
        extra = _zip64_extra(declared, len(data))
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                            len(name), len(extra)) + name + extra
        central_extra = _zip64_extra(declared, len(data), len(body))
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0, crc, 0xFFFFFFFF,
                                 0xFFFFFFFF, len(name), len(central_extra), 0, 0, 0, 0, 0xFFFFFFFF
                                 ) + name + central_extra
        body += local + data
    count = len(entries)
    zip64_end = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(directory), len(body))
    locator = struct.pack("<IIQI", 0x07064B50, 0, len(body) + len(directory), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return body + directory + zip64_end + locator + end


def directory_zip(first_name, first_data, names, declared=None, zip64=False):
    """A zip whose one stored entry ``first_name`` is followed in the central directory by one record per name
    of ``names``, each pointing at that same entry; its end record declares ``declared`` entries (default:
    how many there are), in a ZIP64 end record when ``zip64``. Built in one join: a million records is quick."""
    first = first_name.encode()
    crc = zlib.crc32(first_data)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(first_data), len(first_data),
                        len(first), 0) + first + first_data

    def record(name):
        return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(first_data),
                           len(first_data), len(name), 0, 0, 0, 0, 0, 0) + name
    directory = b"".join([record(first), *map(record, (name.encode() for name in names))])
    count = len(names) + 1 if declared is None else declared
    if not zip64:
        return local + directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, 0xFFFF),
                                               min(count, 0xFFFF), len(directory), len(local), 0)
    zip64_end = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(directory), len(local))
    locator = struct.pack("<IIQI", 0x07064B50, 0, len(local) + len(directory), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return local + directory + zip64_end + locator + end


def zeros_deflated(nbytes, block=1 << 24):
    """A deflate stream of ``nbytes`` zero bytes (a multiple of ``block``), made by repeating one block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return chunk * (nbytes // block) + compressor.flush(zlib.Z_FINISH)


def npy_header(shape, descr="<f4"):
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode() + b" "
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def torch_zip(pickle_bytes, storages=(), declared=None, deflated=()):
    """A torch zip checkpoint: ``archive/data.pkl`` and ``archive/data/<key>`` for each (key, bytes)."""
    declared = declared or {}
    entries = [("archive/data.pkl", pickle_bytes, len(pickle_bytes), False),
               ("archive/byteorder", b"little", 6, False)]
    for key, data in storages:
        entries.append((f"archive/data/{key}", data, declared.get(key, len(data)), key in deflated))
    return raw_zip(entries)


def good_checkpoint():
    """A torch zip holding ``{"w": float32 [1.5, 2.5]}`` (what any load must give back exactly)."""
    data = numpy.array([1.5, 2.5], dtype="<f4").tobytes()
    return torch_zip(pickle_of(state_dict(("w", tensor(storage("0", 2), (2,), (1,))))), [("0", data)])


# --------------------------------------------------------------------------- other formats
def safetensors(header, data=b""):
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def t7_tensor(size, stride, storage_numel=1):
    """A Torch7 file of one ``torch.FloatTensor`` of ``size``/``stride`` over a storage of a few floats."""
    def string(value):
        return struct.pack("<i", len(value)) + value.encode()
    storage_object = (struct.pack("<ii", 4, 2) + string("V 1") + string("torch.FloatStorage")
                      + struct.pack("<q", storage_numel) + bytes(4 * storage_numel))
    return (struct.pack("<ii", 4, 1) + string("V 1") + string("torch.FloatTensor") + struct.pack("<i", len(size))
            + struct.pack(f"<{len(size)}q", *size) + struct.pack(f"<{len(stride)}q", *stride)
            + struct.pack("<q", 1) + storage_object)


def t7_nested_tables(depth):
    """``{1: {1: {1: ...}}}`` ``depth`` deep (the innermost table empty)."""
    opening = b"".join(struct.pack("<iii", 3, index + 1, 1) + struct.pack("<id", 1, 1.0) for index in range(depth))
    return opening + struct.pack("<iii", 3, depth + 1, 0)


def png_header(width, height):
    """A PNG that declares ``width × height`` RGB pixels and holds almost none of them."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b""))
