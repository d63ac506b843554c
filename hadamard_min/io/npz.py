"""Our ``.npz`` weight files: NumPy arrays in a zip, metadata as JSON text, read with every size checked first.

An ``.npz`` is a zip of ``NAME.npy`` entries; an ``.npy`` is a header ``{'descr': '<f4', 'fortran_order':
False, 'shape': (3, 4)}`` and then the raw elements. Metadata entry ``key`` is the JSON text
``numpy.array(json.dumps(value))`` under ``"__key__"``, so everything loads with ``allow_pickle=False``.

Reading asks only for the entries it wants (weights, or metadata), reads each header, checks that the
shape's bytes equal what the zip declares for the entry and that they fit the file's budget
(:mod:`~hadamard_min.io.limits`), and only then allocates the array and fills it in chunks.
"""
import json
import os
import zipfile

import numpy

from hadamard_min.io.atomic import write_atomically
from hadamard_min.io.errors import WeightsError, reported_as_corrupt
from hadamard_min.io.limits import (
    MAX_OUTPUT_BYTES,
    MAX_TEXT_BYTES,
    Budget,
    element_count,
    open_regular,
    opened_size,
    parse_json,
)
from hadamard_min.io.zips import open_zip

_CHUNK = 16 << 20
_ALLOWED = {"weights": lambda dtype: dtype.kind in "biufc",                    # numbers
            "metadata": lambda dtype: dtype.kind == "U" or dtype == numpy.uint8}  # text


def save_weights(path, arrays, metadata=None):
    """Write ``arrays`` (name -> array) and JSON ``metadata`` to ``path`` (.npz), atomically."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise WeightsError(f"{path}: weights are saved as .npz; give a file name ending in .npz")
    entries = {}
    for name, array in arrays.items():
        _check_name(name, path)
        entries[name] = numpy.asarray(array)
    for key, value in (metadata or {}).items():
        entries[f"__{key}__"] = numpy.array(json.dumps(value))

    def write(stream):
        with zipfile.ZipFile(stream, "w", allowZip64=True) as archive:
            for name, array in entries.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    numpy.lib.format.write_array(member, array, allow_pickle=False)

    write_atomically(path, write)


def _check_name(name, path):
    """A weight's name must be one a zip entry can hold and give back: text of at most 65,535 UTF-8 bytes
    (with ``.npy``), without a NUL (a zip reader ends the name there), not starting with ``__`` (metadata), and
    not a path that an unzip would write outside its folder (``/x``, ``C:x``, a ``..`` part, by / or \\)."""
    if not isinstance(name, str):
        raise WeightsError(f"cannot write {path}: weight name {name!r} is a {type(name).__name__}, not text; "
                           f"rename that tensor")
    shown = repr(name[:80]) + ("..." if len(name) > 80 else "")
    problem = ("starts with '__', which marks metadata" if name.startswith("__") else
               "holds a NUL character, where a zip entry's name would end" if "\0" in name else
               "is a path that an unzip would write outside its folder" if _escapes(name) else None)
    try:
        if problem is None and len((name + ".npy").encode("utf-8")) > 0xFFFF:
            problem = "is longer than the 65,535 bytes a zip entry's name can hold"
    except UnicodeEncodeError:
        problem = "holds a lone surrogate, which UTF-8 cannot encode"
    if problem:
        raise WeightsError(f"cannot write {path}: weight name {shown} {problem}; rename that tensor")


def _escapes(name):
    """Whether the zip entry ``name`` climbs out of the folder it is unzipped in: absolute, a drive, or ``..``."""
    parts = name.replace("\\", "/").split("/")
    return name[:1] in "/\\" or (len(name) > 1 and name[1] == ":") or ".." in parts


def _open(file, path):
    """The zip of the .npz open as ``file``, after checks of what the file starts with."""
    file.seek(0)
    magic = file.read(6)
    if magic == b"\x93NUMPY":
        raise WeightsError(f"{path}: holds a single .npy array, not an .npz archive; re-create it")
    if magic[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise WeightsError(f"{path}: not a readable .npz file (it is not a zip archive: it starts with "
                           f"{magic[:4]!r}); give a file written by hadamard-train, hadamard-port or numpy.savez")
    return open_zip(file, path, "not a readable .npz file", "re-create it")


def _header(stream, source, name):
    version = numpy.lib.format.read_magic(stream)
    read = {(1, 0): numpy.lib.format.read_array_header_1_0, (2, 0): numpy.lib.format.read_array_header_2_0}
    if version in read:
        try:
            return read[version](stream)
        except ValueError as error:  # numpy's own advice for a long header is to trust the file: never here
            if "max_header_size" not in str(error):
                raise
            raise WeightsError(f"{source}: entry {name!r} has an .npy header longer than numpy's 10,000 bytes; "
                               f"no array of ours has one: re-create the file") from None
    raise WeightsError(f"{source}: entry {name!r} is .npy version {version}, which is not supported; re-save it")


def _read_entry(archive, info, source, budget, allowed):
    """One entry as an array; its header is checked against the zip's sizes and the budget first."""
    name = info.filename[:-len(".npy")]
    with archive.open(info) as stream:
        shape, fortran, dtype = _header(stream, source, name)
        if dtype.hasobject or not allowed(dtype):
            raise WeightsError(f"{source}: entry {name!r} holds elements of type {dtype}, not numbers; re-create it")
        nbytes = element_count(shape, source, f"entry {name!r}") * dtype.itemsize
        if nbytes != info.file_size - stream.tell():
            raise WeightsError(f"{source}: entry {name!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) but "
                               f"holds {info.file_size - stream.tell():,}; the file is corrupt, re-create it")
        budget.spend(nbytes, f"entry {name!r}")
        array = numpy.empty(shape, dtype=dtype, order="F" if fortran else "C")
        flat = memoryview(array.T if fortran else array).cast("B") if nbytes else b""
        done = 0
        while done < nbytes:
            chunk = stream.read(min(_CHUNK, nbytes - done))
            if not chunk:
                raise EOFError(f"entry {name!r} ends after {done} of {nbytes} bytes")
            flat[done:done + len(chunk)] = chunk
            done += len(chunk)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_npz(path, wanted, kind="weights", limit=MAX_OUTPUT_BYTES, file=None):
    """``{name: array}`` of the entries of ``path`` for which ``wanted(name)`` holds (name without .npy).

    Given ``file`` (``path`` already open), it reads from that descriptor alone: a model file whose sha256
    was checked on it is parsed from the bytes that were checked, even if ``path`` is replaced meanwhile."""
    if file is None:
        with open_regular(path) as opened:
            return read_npz(path, wanted, kind, limit, opened)
    budget = Budget(path, opened_size(file, path), cap=limit)
    with _open(file, path) as archive:
        arrays = {}
        for info in archive.infolist():
            name = info.filename[:-len(".npy")] if info.filename.endswith(".npy") else None
            if name is None or not wanted(name):
                continue
            with reported_as_corrupt(path, f".npz entry {name!r}", "re-create it"):  # numpy's TokenError too
                arrays[name] = _read_entry(archive, info, path, budget, _ALLOWED[kind])
    return arrays


def load_npz(path, file=None):
    """The weights of an .npz (read from ``file`` when given, see :func:`read_npz`): every entry but the
    ``__metadata__`` ones."""
    return read_npz(path, lambda name: not name.startswith("__"), file=file)


def _is_metadata(name):
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def load_npz_metadata(path, file=None):
    """The metadata of an .npz written by :func:`save_weights`: ``{key: json.loads(text of "__key__")}``,
    read from ``file`` when given (see :func:`read_npz`)."""
    path = os.fspath(path)
    if file is None and not os.path.exists(path):
        raise WeightsError(f"weights file not found: {path}; check the path (or download/port the weights)")
    entries = read_npz(path, _is_metadata, kind="metadata", limit=MAX_TEXT_BYTES, file=file)
    metadata = {}
    for key, array in entries.items():
        text = array.tobytes() if array.dtype == numpy.uint8 else _joined_text(array, path, key)
        metadata[key[2:-2]] = parse_json(text, path, f"metadata {key!r}")
    return metadata


def _joined_text(array, source, key):
    """The strings of a NumPy text array joined, each without the NULs that pad it (as ``tolist`` gives them),
    decoded from the code points as a whole: a Python string per element would take ~80 bytes for each 4 the
    file holds (6 million one-character strings, 0.5 GB), and ``tolist`` fails inside Python on a code point
    beyond U+10FFFF."""
    width = array.dtype.itemsize // 4
    if not (width and array.size):
        return ""
    codes = numpy.ascontiguousarray(array.reshape(-1)).view(numpy.uint32).reshape(-1, width)
    kept = numpy.logical_or.accumulate(codes[:, ::-1] != 0, axis=1)[:, ::-1]  # up to each string's last non-NUL
    try:
        return codes[kept].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
    except UnicodeDecodeError as error:
        raise WeightsError(f"{source}: the metadata {key!r} holds a code point beyond U+10FFFF (at character "
                           f"{error.start // 4}), not text; the file is corrupt or crafted") from None


def open_npy_mapped(path, hint="re-save it as an array of numbers"):
    """A read-only memory map of the ``.npy`` at ``path`` (numbers only), its header checked against the file."""
    source = path
    with open_regular(path) as stream, reported_as_corrupt(path, ".npy file", "re-save it with numpy.save"):
        shape, fortran, dtype = _header(stream, source, os.path.basename(path))
        offset = stream.tell()
    if dtype.hasobject or not _ALLOWED["weights"](dtype):
        raise WeightsError(f"{source} holds elements of type {dtype} (Python objects), not numbers; {hint}")
    nbytes, held = element_count(shape, source, "the array") * dtype.itemsize, os.stat(path).st_size - offset
    if nbytes != held:
        raise WeightsError(f"{source}: its header declares shape {shape} of {dtype} ({nbytes:,} bytes) but the file "
                           f"holds {held:,}; the file is corrupt")
    return numpy.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
