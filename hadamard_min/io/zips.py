"""Zip archives (.npz, torch checkpoints) opened only after their entries are counted from the raw bytes.

``zipfile.ZipFile`` reads a zip's whole central directory (one record per entry) before anything can be
asked of it, as far as the End Of Central Directory record says the directory reaches. So that record is
found here first, the way ``zipfile`` finds it (the last 22 bytes, else the last signature within the
final 64 KiB; a ZIP64 locator and end record just before it, when there are):

    EOCD   "PK\\x05\\x06" disk, disk of directory, entries here, entries (u16), size, offset (u32), comment
    ZIP64  "PK\\x06\\x06" size of record (u64), versions, disks, entries here, entries, size, offset (u64)

and the directory it names is walked entry by entry (each a 46-byte record, then its name, extra field and
comment), refused past ``MAX_TENSORS`` entries or ``MAX_TEXT_BYTES`` of directory before ``zipfile`` parses
anything. Entries are counted, not names, and no two entries may have one name (a reader would see only
one of them).
"""
import collections
import struct
import zipfile

from hadamard_min.io.errors import TooLargeError, WeightsError
from hadamard_min.io.limits import MAX_TENSORS, MAX_TEXT_BYTES

_END, _END64, _LOCATOR, _ENTRY = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x01\x02"
_END_SIZE, _END64_SIZE, _LOCATOR_SIZE, _ENTRY_SIZE = 22, 56, 20, 46


def _end_record(file, size):
    """(entries, directory size, directory start) as ``zipfile`` will read them, or None if there is none."""
    file.seek(max(size - _END_SIZE - (1 << 16), 0))
    tail = file.read()
    start = len(tail) - _END_SIZE
    if not (start >= 0 and tail[start:start + 4] == _END and tail[-2:] == b"\0\0"):
        start = tail.rfind(_END)
    if start < 0 or len(tail) - start < _END_SIZE:
        return None
    location = size - len(tail) + start
    entries, length, _ = struct.unpack("<HII", tail[start + 10:start + 20])
    if location >= _LOCATOR_SIZE + _END64_SIZE:
        file.seek(location - _LOCATOR_SIZE - _END64_SIZE)
        record = file.read(_END64_SIZE + _LOCATOR_SIZE)
        if record[_END64_SIZE:_END64_SIZE + 4] == _LOCATOR and record[:4] == _END64:
            entries, length, _ = struct.unpack("<QQQ", record[32:56])
            location -= _LOCATOR_SIZE + _END64_SIZE
    return entries, length, location - length


def _count_entries(file, size, source, corrupt):
    """The number of entries the central directory holds, refused beyond the limits before it is parsed."""
    end = _end_record(file, size)
    if end is None:
        raise WeightsError(f"{source}: {corrupt} (no end of central directory record)")
    declared, length, start = end
    if declared > MAX_TENSORS or length > MAX_TEXT_BYTES:
        raise TooLargeError(f"{source}: the zip declares {declared:,} entries in a directory of {length:,} bytes; "
                            f"at most {MAX_TENSORS:,} entries and {MAX_TEXT_BYTES:,} bytes are read")
    if start < 0:
        raise WeightsError(f"{source}: {corrupt} (its central directory would start before the file)")
    file.seek(start)
    directory, count, position = file.read(length), 0, 0
    while position < length:
        record = directory[position:position + _ENTRY_SIZE]
        if len(record) < _ENTRY_SIZE or record[:4] != _ENTRY:
            raise WeightsError(f"{source}: {corrupt} (central directory cut short at byte {position})")
        count += 1
        if count > MAX_TENSORS:
            raise TooLargeError(f"{source}: the zip holds more than {MAX_TENSORS:,} entries")
        position += _ENTRY_SIZE + sum(struct.unpack("<HHH", record[28:34]))
    return count


def open_zip(file, path, corrupt, hint):
    """``zipfile.ZipFile`` over the open binary ``file`` (named ``path`` in messages), once its entries are
    counted (at most ``MAX_TENSORS``) and found to have distinct names; a broken zip is refused as ``corrupt``
    (what the file is not), ``hint`` ends the refusals. The archive reads from ``file`` itself, never from the
    path again, so a caller that checked those bytes (a sha256) parses the same ones; the caller closes it."""
    file.seek(0, 2)
    try:
        count = _count_entries(file, file.tell(), path, corrupt)
    except WeightsError as error:
        raise type(error)(f"{error}; {hint}") from None
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise WeightsError(f"{path}: {corrupt} ({error}); {hint}") from None
    names = [info.filename for info in archive.infolist()]
    if len(names) != count or len(set(names)) != count:
        archive.close()
        twice = sorted(name for name, times in collections.Counter(names).items() if times > 1)[:3]
        raise WeightsError(f"{path}: the zip holds {len(names):,} entries under {len(set(names)):,} names"
                           + (f" ({', '.join(map(repr, twice))} more than once)" if twice else "") + f"; {hint}")
    return archive
