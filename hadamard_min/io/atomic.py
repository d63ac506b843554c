"""Every file the package writes goes through here: written whole or not at all, and never over an input.

:func:`write_atomically` writes into a file of the destination's folder that has no name yet (Linux's
``O_TMPFILE``: a process killed mid-write, a full disk or an exception leaves nothing behind), then links it
under a temporary name and renames it over the destination, which ``os.replace`` does in one step. Where the
file system has no ``O_TMPFILE`` the file is a hidden ``.NAME.PID.RANDOM.tmp``, removed on any error. A
reader sees the old file or the new one, never a part; a hard link to the old file keeps the old content.
Inside ``with together():`` the files a command writes are all written whole before the first is put in place:
a failure on the last (a full disk, a folder that cannot be written) leaves none of them; until then they stay
without a name where the file system makes unnamed files, so a process killed meanwhile (even by SIGKILL)
leaves nothing.

What a command may write, and where, is asked before it writes anything: :mod:`hadamard_min.io.outputs`.
"""
import contextlib
import errno
import json
import math
import os
import re
import shutil
import sys
import uuid
from pathlib import Path

import numpy

from hadamard_min.io.outputs import check_destination, naming


def _temporary(path):
    """The hidden name a new version of ``path`` takes before the rename: its name cut to whole characters of
    at most 100 bytes, so that any name the file system allows leaves room for the process id and a random
    part, and a UTF-8 name stays UTF-8 (a file system such as APFS refuses any other)."""
    stem, size = "", 0
    for character in path.name:
        size += len(os.fsencode(character))
        if size > 100:
            break
        stem += character
    return path.parent / f".{stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"


def _open_unnamed(folder):
    """A file descriptor of a new file in ``folder`` without a name (None where that is not possible)."""
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o666)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None
        raise


def _name(handle, temporary):
    """Give the unnamed file ``handle`` the name ``temporary`` (a copy where the link is refused)."""
    folder = os.open(temporary.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:  # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: os.link uses it when given a dir_fd
        os.link(f"/proc/self/fd/{handle}", temporary.name, dst_dir_fd=folder, follow_symlinks=True)
    except OSError:
        os.lseek(handle, 0, os.SEEK_SET)
        with os.fdopen(os.dup(handle), "rb") as source, open(temporary, "xb") as copy:
            shutil.copyfileobj(source, copy)
            copy.flush()
            os.fsync(copy.fileno())
    finally:
        os.close(folder)


def write_atomically(path, write):
    """Call ``write(binary_stream)`` for a new version of ``path`` and put it in place in one step.

    The destination's folder must exist; ``path`` must not be a folder. Returns ``path``.
    """
    path = Path(path)
    check_destination(path)
    temporary = _temporary(path)
    try:
        handle = _open_unnamed(path.parent)
        named = handle is None
        if named:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:  # e.g. a folder where no file can be made (/proc): name the destination
        raise naming(error, path) from None
    try:
        with os.fdopen(handle, "wb" if named else "w+b") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
            if not named and _staged is not None:  # inside together(): named and put in place with the others
                _staged.append((os.dup(stream.fileno()), temporary, path))
                return path
            if not named:
                named = True  # from here on a file may exist under the temporary name
                _name(stream.fileno(), temporary)
        if _staged is not None:
            _staged.append((None, temporary, path))
            return path
        os.replace(temporary, path)
    except BaseException as error:
        if named:
            temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and _ours(error, temporary):  # name the destination, never the hidden file
            raise naming(error, path) from None
        raise
    return path


_staged = None  # inside together(): [(unnamed file or None, temporary, destination)] written whole, not in place


@contextlib.contextmanager
def together():
    """Every :func:`write_atomically` inside the block is written whole under its temporary name; when the block
    ends without an error all are put in place (one ``os.replace`` each); on any error, none is."""
    global _staged
    if _staged is not None:  # nested: the outer block puts them in place
        yield
        return
    _staged = staged = []
    try:
        yield
        stuck = next((path for _, _, path in staged if _immutable(path)), None)
        if stuck is not None:  # known before any is put in place
            raise PermissionError(errno.EPERM, "the file is immutable or append-only (chattr), so it cannot be "
                                               "replaced; nothing was written", str(stuck))
        for done, (handle, temporary, path) in enumerate(staged):  # named only now, every one before any rename
            if handle is not None:
                try:
                    _name(handle, temporary)
                except OSError as error:
                    raise naming(error, path) from None
                finally:
                    staged[done] = (None, temporary, path)
                    os.close(handle)
        for temporary, path in [(temporary, path) for _, temporary, path in staged]:
            try:
                os.replace(temporary, path)
            except OSError as error:
                raise naming(error, path) from None
    finally:
        _staged = None
        for handle, temporary, _ in staged:  # after an error nothing of the block is left (put in place: no-op)
            if handle is not None:
                os.close(handle)
            temporary.unlink(missing_ok=True)


def _immutable(path):
    """Whether the existing file ``path`` carries Linux's immutable or append-only flag (``chattr +i``/``+a``),
    which no rename may replace; False where that cannot be told."""
    try:
        import fcntl
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except (ImportError, OSError):  # not Linux, no such file, or a link (replaced, not followed)
        return False
    try:
        flags = int.from_bytes(fcntl.ioctl(handle, _FS_IOC_GETFLAGS, bytes(8))[:4], sys.byteorder)
    except OSError:  # a file system without flags
        return False
    finally:
        os.close(handle)
    return bool(flags & (_FS_IMMUTABLE_FL | _FS_APPEND_FL))


_FS_IOC_GETFLAGS, _FS_IMMUTABLE_FL, _FS_APPEND_FL = 0x80086601, 0x10, 0x20  # linux/fs.h


def _ours(error, temporary):
    """Whether ``error`` came from writing, naming or renaming the temporary file (not from an input that
    ``write`` read): it has no file name, or the temporary's."""
    name = error.filename
    return name is None or (isinstance(name, str | os.PathLike) and os.fspath(name) == os.fspath(temporary))


def write_bytes(path, data):
    return write_atomically(path, lambda stream: stream.write(data))


def write_text(path, text):
    """``text`` as UTF-8 (made :func:`utf8_safe` first: a name that is not UTF-8 cannot stop a report)."""
    return write_bytes(path, utf8_safe(text).encode("utf-8"))


def utf8_safe(text):
    """``text`` as UTF-8 can hold it and a figure draw it: the bytes of a file name or an argument that Python
    kept as surrogate escapes read as the UTF-8 they spell ("café" under an ASCII locale), and every lone
    surrogate left (a byte that is not UTF-8, or one that stands for no byte) replaced by U+FFFD."""
    text = _ESCAPES.sub(lambda run: run[0].encode("utf-8", "surrogateescape").decode("utf-8", "replace"), str(text))
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = re.compile("[\udc80-\udcff]+")  # a run of bytes kept as surrogate escapes (Python's surrogateescape)


def json_ready(value):
    """Plain JSON values: NaN and ±inf → None (JSON has no NaN), NumPy scalars and arrays → Python, text
    made :func:`utf8_safe`."""
    if isinstance(value, str):
        return utf8_safe(value)
    if isinstance(value, dict):
        return {utf8_safe(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, numpy.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, numpy.bool_):
        return bool(value)
    if isinstance(value, numpy.integer):
        return int(value)
    if isinstance(value, float | numpy.floating):
        return float(value) if math.isfinite(value) else None
    return value


def json_text(data, indent=2, ascii_only=False):
    """Strict JSON text of ``data`` (see :func:`json_ready`), ending in a newline; ``ascii_only``: every
    other character as its ``\\uXXXX`` escape (for a stream whose encoding cannot hold it)."""
    return json.dumps(json_ready(data), indent=indent, ensure_ascii=ascii_only, allow_nan=False) + "\n"


def write_json(path, data, indent=2):
    return write_text(path, json_text(data, indent))
