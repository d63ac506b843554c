"""How much a file may hold: the limits every reader checks *before* it allocates anything.

A file declares sizes (a tensor's shape, a zip entry's length, a string's length, a header's length). A
reader compares each with the file itself and with the limits below before it reserves memory for it;
element counts are Python ints, which cannot overflow. What a file unpacks to is bounded as a whole:

    bytes produced by one file  <=  min(MAX_OUTPUT_BYTES, BASE_OUTPUT_BYTES + OUTPUT_PER_BYTE · file size)

counting a tensor, an entry or a string every time the file refers to it (a tensor shared a million times
is a million tensors to whoever copies them out). Nested data is bounded in depth and in entries, and may
not contain itself (:func:`check_tree`), so that nothing downstream recurses or loops without end.

A tensor's every axis is bounded, not only their product: the axes other than its empty ones may multiply
to at most ``MAX_OUTPUT_BYTES`` (a shape ``(0, 2**62)`` holds nothing and is still refused). An integer in
JSON or a pickle has at most ``MAX_INT_BITS`` bits, checked before Python turns its digits into a number
(turning n digits into an int or back into text takes time quadratic in n).
"""
import json
import math
import os
import stat

from hadamard_min.io.errors import TooLargeError, WeightsError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
MAX_FILE_BYTES = 4 * GiB        # the largest weight file read
BASE_OUTPUT_BYTES = 64 * MiB    # what any file may unpack to ...
OUTPUT_PER_BYTE = 8             # ... plus this many bytes for each byte of the file ...
MAX_OUTPUT_BYTES = 8 * GiB      # ... and never more than this
MAX_TEXT_BYTES = 32 * MiB       # a JSON file, a pickle, a vocabulary, a manifest, a safetensors header
MAX_PICKLE_OPS = 5_000_000      # opcodes one pickle may run
MAX_DEPTH = 100                 # containers inside containers
MAX_ITEMS = 2_000_000           # entries of all containers of one file, each shared one counted every time
MAX_DIMS = 64                   # axes of one tensor
MAX_TENSORS = 20_000            # entries of one zip (.npz, torch), tensors of one .safetensors
MAX_COPIES = 4                  # a torch file's tensors may repeat its storages' bytes (tied weights) this often
MAX_INT_BITS = 128              # an integer in JSON or a pickle (torch's legacy magic number has 77 bits)
MAX_NAME_CHARS = 1_000          # a word, an answer or a token: a figure draws each on one line, ~0.2 ms a character
MAX_QUESTION_CHARS = 20_000     # a question (an explanation's figure draws it as its title)


def human(nbytes):
    """``3.0 GiB``-style size."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def element_count(shape, source, what):
    """The number of elements of ``shape`` (a tuple/list of non-negative ints), as a Python int."""
    if not isinstance(shape, tuple | list) or not all(is_int(n) and n >= 0 for n in shape):
        raise WeightsError(f"{source}: {what} has shape {str(shape)[:80]}, not a list of non-negative integers; "
                           f"the file is corrupt")
    if len(shape) > MAX_DIMS:
        raise TooLargeError(f"{source}: {what} has {len(shape)} axes, more than {MAX_DIMS}; the file is corrupt")
    if math.prod(n for n in shape if n) > MAX_OUTPUT_BYTES:
        raise TooLargeError(f"{source}: {what} has shape {str(tuple(shape))[:80]}, whose non-empty axes multiply "
                            f"to more than {MAX_OUTPUT_BYTES:,} elements; the file is corrupt or crafted")
    return math.prod(shape)


class Budget:
    """The bytes one file may still produce (see the module docstring); :meth:`spend` before allocating."""

    def __init__(self, source, file_bytes, cap=MAX_OUTPUT_BYTES):
        self.source, self.file_bytes = source, file_bytes
        self.total = min(cap, MAX_OUTPUT_BYTES, BASE_OUTPUT_BYTES + OUTPUT_PER_BYTE * file_bytes)
        self.left = self.total

    def spend(self, nbytes, what):
        if nbytes > self.left:
            raise TooLargeError(
                f"{self.source}: {what} needs {human(nbytes)}, more than this {human(self.file_bytes)} file may "
                f"unpack to ({human(self.total)} in all, {human(self.left)} left); the file is corrupt or "
                f"crafted, not a weight file")
        self.left -= nbytes


def file_size(path, limit=MAX_FILE_BYTES):
    """The size of the regular file ``path``, refused above ``limit``."""
    with open_regular(path) as file:
        return opened_size(file, path, limit)


def opened_size(file, path, limit=MAX_FILE_BYTES):
    """The size of the open ``file`` (named ``path``), refused above ``limit``: a reader that parses from one
    descriptor sizes that descriptor's file, not whatever ``path`` names by then."""
    size = os.fstat(file.fileno()).st_size
    if size > limit:
        raise TooLargeError(f"{path}: the file has {human(size)}, more than the {human(limit)} read at most")
    return size


def open_regular(path):
    """``path`` opened for reading in binary, once it is known to be a regular file: the one check every reader
    makes before its first read. Links are followed; the type is that of the opened file (``fstat``), and the
    open does not wait (``O_NONBLOCK``), so a FIFO, a device (``/dev/zero``) or a folder is refused at once
    instead of blocking or never ending."""
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise WeightsError(f"{path}: not a regular file (a pipe, a device or a folder); give a file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(handle, True)
        return os.fdopen(handle, "rb")
    except BaseException:
        os.close(handle)
        raise


def read_bounded(path, limit=MAX_TEXT_BYTES):
    """The bytes of the regular file ``path``, refused (before reading) when it holds more than ``limit``."""
    with open_regular(path) as file:
        if os.fstat(file.fileno()).st_size > limit:
            raise TooLargeError(f"{path}: the file has {human(os.fstat(file.fileno()).st_size)}, more than "
                                f"the {human(limit)} read at most for this kind of file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"{path}: the file grew past {human(limit)} while it was read")
    return data


def decode_text(data, source):
    """UTF-8 bytes as text (a byte-order mark dropped); anything else is the file's fault, said so."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise WeightsError(f"{source}: not UTF-8 text (byte {error.start} is 0x{data[error.start]:02x}); "
                           f"save the file as UTF-8") from None


def text_lines(data, source):
    """The lines of a UTF-8 text file (bytes), at most ``MAX_ITEMS`` of them, counted before splitting."""
    if data.count(b"\n") > MAX_ITEMS:
        raise TooLargeError(f"{source}: more than {MAX_ITEMS:,} lines")
    lines = decode_text(data, source).split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def bounded_int(value, source, what):
    """``value`` (an int, or the digits of a JSON number), refused beyond ``MAX_INT_BITS`` bits."""
    if isinstance(value, str):
        value = int(value) if len(value) <= 40 else None  # more digits are more bits: refused unconverted
    if value is None or value.bit_length() > MAX_INT_BITS:
        raise TooLargeError(f"{source}: the {what} holds an integer of more than {MAX_INT_BITS} bits; the file "
                            f"is corrupt or crafted")
    return value


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # little- and big-endian (UTF-32LE's starts as UTF-16LE's)


def byte_lines(path):
    """``[(line number, bytes)]`` of the non-blank lines of the text file ``path`` (at most ``MAX_TEXT_BYTES``,
    ``MAX_ITEMS`` lines), undecoded: a JSON Lines file whose lines are parsed, and fail, one by one. UTF-16 or
    UTF-32 text (a byte-order mark, or a NUL byte among the first four: no UTF-8 text starts so) is refused whole."""
    data = read_bounded(path)
    if data.startswith(UTF16_BOMS) or b"\0" in data[:4]:  # each line would fail alone as "not JSON"
        raise WeightsError(f"{path}: UTF-16 or UTF-32 text, not UTF-8 (as Windows PowerShell's > writes); save the "
                           f"file as UTF-8")
    if data.count(b"\n") > MAX_ITEMS:
        raise TooLargeError(f"{path}: more than {MAX_ITEMS:,} lines")
    return [(number, line) for number, line in enumerate(data.split(b"\n"), 1) if line.strip()]


def parse_json(data, source, what="file"):
    """JSON from bytes or text, with the depth, entries and no-cycles bounds of :func:`check_tree`."""
    text = decode_text(data, source) if isinstance(data, bytes | bytearray) else data
    if len(text) > MAX_TEXT_BYTES:
        raise TooLargeError(f"{source}: the {what} has {len(text):,} characters, more than {MAX_TEXT_BYTES:,}")
    try:
        value = json.loads(text, parse_int=lambda digits: bounded_int(digits, source, what),
                           object_pairs_hook=lambda pairs: _unique_keys(pairs, source, what))
    except RecursionError:
        raise TooLargeError(f"{source}: the {what} nests lists or objects deeper than {MAX_DEPTH}") from None
    except WeightsError:  # an integer refused by bounded_int, a key named twice
        raise
    except ValueError as error:  # not JSON
        raise WeightsError(f"{source}: the {what} is not JSON that can be read ({error})") from None
    check_tree(value, source)
    return value


def _unique_keys(pairs, source, what):
    """A JSON object as a dict, refused when it names one key twice (JSON would keep the last without a word)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        twice = next(key for key in value if sum(name == key for name, _ in pairs) > 1)
        raise WeightsError(f"{source}: the {what} names {twice[:80]!r} more than once; the file is corrupt or crafted")
    return value


def plain_children(node):
    """The values a container holds (dict keys too), or None for a leaf."""
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    if isinstance(node, list | tuple | set | frozenset):
        return list(node)
    return None


def check_tree(root, source, children=plain_children, nbytes=None):
    """Measure nested data without recursion; refuse depth > MAX_DEPTH, > MAX_ITEMS entries, or a cycle.

    Entries reached twice (shared references) count twice, as anything that copies the data out makes two
    copies; each distinct container is measured once (its totals are remembered), so a file of 2^40 paths
    costs no more time than its own size. ``nbytes(leaf)`` is what a leaf stands for (an array's bytes);
    the return value is their sum over every path, for the caller to charge to its :class:`Budget`.
    """
    totals, kids_of, on_path = {}, {}, set()  # id -> (entries, bytes) of finished containers
    stack = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:  # every child is measured: sum them up
            kids = kids_of.pop(key)
            entries, size = len(kids), 0
            for kid in kids:
                measured = totals.get(id(kid))
                if measured is not None:
                    entries, size = entries + measured[0], size + measured[1]
                elif nbytes is not None:
                    size += nbytes(kid)
            if entries > MAX_ITEMS:
                raise TooLargeError(f"{source}: holds more than {MAX_ITEMS:,} entries (shared ones counted each "
                                    f"time they are reached); the file is corrupt or crafted")
            totals[key] = (entries, size)
            on_path.discard(key)
            continue
        kids = None if key in totals else children(node)
        if kids is None:
            continue
        if key in on_path:
            raise WeightsError(f"{source}: a container holds itself; the file is corrupt or crafted")
        if len(on_path) >= MAX_DEPTH:
            raise TooLargeError(f"{source}: containers nest deeper than {MAX_DEPTH}; the file is corrupt or crafted")
        on_path.add(key)
        kids_of[key] = kids
        stack.append((node, True))
        stack.extend((kid, False) for kid in kids if type(kid) not in _ATOMS and id(kid) not in totals)
    measured = totals.get(id(root))
    return measured[1] if measured is not None else (nbytes(root) if nbytes is not None else 0)


_ATOMS = {str, bytes, int, float, bool, type(None)}  # never containers: not walked
