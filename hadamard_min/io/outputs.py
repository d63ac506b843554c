"""What a command may write, and where: asked before it writes anything (then :mod:`hadamard_min.io.atomic`
writes each file whole).

:func:`check_outputs`: no output may be, or link to (same inode, ``os.path.samefile``), an input or another
output, be a folder, a device or a pipe, or lie in a folder that does not exist or that this process cannot
write in (a file without a name is made there and let go: a training or an evaluation must not run for
minutes to fail at its first file). :func:`check_replaceable`: an existing output is replaced only where it is
what the command writes (a figure, a JSON object), never a photograph or notes that share its name.
"""
import errno
import os
import stat
import tempfile
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class OutputFolderError(FileNotFoundError):
    """The folder a file should be written to does not exist."""


class OutputClashError(FileExistsError):
    """An output would replace an input, another output, or a folder."""


class OutputNotWritableError(PermissionError):
    """The folder a file should be written to cannot be written in."""


def check_destination(path):
    """``path`` can take a new file: not a folder or a special file, in a folder that exists."""
    if path.is_dir():
        raise OutputClashError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():  # a device, a pipe, a socket: a rename would put a file there
        raise OutputClashError(f"cannot write {path}: it is {_kind(path)}, not a regular file, and would be "
                               f"replaced; give a file name (nothing was written)")
    if not path.parent.is_dir():
        raise OutputFolderError(f"cannot write {path}: folder {path.parent} does not exist (create it first)")


def _kind(path):
    mode = os.stat(path).st_mode
    return ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a pipe" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def naming(error, path):
    """``error`` (an OSError) as one that names ``path``, the file the user asked for."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def check_writable(path):
    """The folder of ``path`` takes new files: one is made there without a name (Linux's ``O_TMPFILE``; else a
    hidden named one, removed at once) and let go, so nothing is left. A read-only folder or file system, or
    one this user may not write in, raises :class:`OutputNotWritableError` naming ``path``."""
    folder = path.parent
    try:
        try:
            os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600))
        except (AttributeError, OSError) as error:  # no O_TMPFILE here, or on this file system
            if isinstance(error, OSError) and error.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
            handle, probe = tempfile.mkstemp(prefix=".hadamard-probe-", dir=folder)
            os.close(handle)
            os.unlink(probe)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise naming(error, path) from None
        raise OutputNotWritableError(error.errno, f"folder {folder} cannot be written in ({error.strerror}); "
                                                  f"choose another place (nothing was written)", str(path)) from None


def check_replaceable(outputs, kind, start):
    """Refuse, before anything is written, outputs that exist and are not of ``kind``: their content, after
    any leading white space, does not begin with ``start`` (a PNG's signature, a JSON object's ``{``), or a link
    to nothing. A figure or a JSON written before is replaced; notes, photographs or weights that share the name
    are not."""
    for label, path in outputs.items():
        what = f"not {kind}"
        try:
            with open(path, "rb") as file:
                head = file.read(4096).lstrip()
        except FileNotFoundError:  # a new name; or a link to nothing, the user's link: not ours to replace
            head, what = (b"\0", "a link to nothing") if os.path.islink(path) else (b"", what)
        except OSError as error:
            raise naming(error, path) from None
        if head and not head.startswith(start):  # an empty file (touch, mktemp) holds nothing to keep
            raise OutputClashError(f"{label} {path} exists and is {what}: it would be overwritten; choose "
                                   f"another name or remove it (nothing was written)")


def _same_file(a, b):
    if os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_outputs(outputs, inputs=None):
    """Refuse, before anything is written, outputs that would destroy something or cannot be written.

    ``outputs`` and ``inputs`` map a label for messages (``"--out"``) to a path. An output may not be, or
    link to, an input or another output, may not be a folder, and its folder must exist and take new files.
    """
    inputs = {label: path for label, path in (inputs or {}).items() if path is not None}
    checked = []
    for label, path in outputs.items():
        check_destination(Path(path))
        for other_label, other in [*inputs.items(), *checked]:
            if _same_file(path, other):
                role = "input" if other_label in inputs else "output"
                raise OutputClashError(f"{label} {path} is the same file as the {role} {other_label} {other}: "
                                       f"it would be overwritten; choose another name (nothing was written)")
        checked.append((label, path))
    for path in {os.path.realpath(Path(path).parent): Path(path) for _, path in checked}.values():
        check_writable(path)  # once a folder
