"""The pickle machine, cut down to plain data and tensors, with nothing of Python within reach of the file.

A pickle is a program for a small stack machine: opcodes push values, fill containers (APPEND,
SETITEM), name Python objects (GLOBAL "module name"), call them (REDUCE) and set their state (BUILD).
``pickle.Unpickler`` imports what a GLOBAL names and lets BUILD and SETITEM change any object on its stack,
so even a restricted ``find_class`` hands the file real objects it can change for every later load.
:func:`load_pickle` runs the machine itself, over the opcodes ``pickletools.genops`` decodes:

* a GLOBAL becomes a :class:`Name`, an immutable token, and only names the caller allows; REDUCE calls the
  caller's function for that name (``calls``), never the object the name stands for;
* containers are the fresh ``list``/``dict``/``set`` the machine made for this load; APPEND, SETITEM and
  ADDITEMS fill only those, BUILD only an ``OrderedDict`` (its state is dropped); INST, OBJ, NEWOBJ,
  extension codes and out-of-band buffers are refused;
* a load is bounded: its bytes and opcodes, its containers' entries, depth and cycles (``limits``), and
  each integer to ``MAX_INT_BITS`` bits;
* a dict key, set member or memo index is text, bytes, None, a bool or an integer of at most 64 bits,
  checked before it is hashed. Text and bytes hash with a per-process secret; an integer of at most 64
  bits shares its hash with at most 18 others (Python hashes an int modulo 2**61 − 1). Any other key
  (a float, a tuple, a longer integer) can be made to share one hash in bulk, which makes filling a dict
  quadratic: a 1 MB file would run for minutes.

So nothing a file holds is run, and no load can change what another one sees. A container format (a torch
zip, a legacy torch file) passes ``persistent_load`` to turn its storage ids into values of its own.
"""
import collections
import pickletools
from dataclasses import dataclass

from hadamard_min.io.errors import UnsafePickleError, WeightsError
from hadamard_min.io.limits import (
    MAX_ITEMS,
    MAX_PICKLE_OPS,
    MAX_TEXT_BYTES,
    TooLargeError,
    bounded_int,
    check_tree,
    human,
)


@dataclass(frozen=True)
class Name:
    """What a GLOBAL pushes: the allowed name ``module.name`` and nothing else."""
    text: str


class _KeyRefused(Exception):
    """A value that may not be hashed (see the module docstring); the machine refuses the file."""


def _keys(values):
    """``values`` (a list), each checked to be a key whose hash the file cannot choose in bulk."""
    for value in values:
        if not (type(value) in _KEY_TYPES or (type(value) is int and value.bit_length() <= _KEY_BITS)):
            what = f"an integer of {value.bit_length()} bits" if type(value) is int else type(value).__name__
            raise _KeyRefused(f"uses {what} as a dict key, set member or memo index")
    return values


def _ordered_dict(items=()):
    pairs = list(items.items() if isinstance(items, dict) else items)
    _keys([pair[0] for pair in pairs if isinstance(pair, tuple | list) and pair])
    return collections.OrderedDict(pairs)


def _set(items=()):
    return set(_keys(list(items)))


def _frozenset(items=()):
    return frozenset(_keys(list(items)))


PLAIN_CALLS = {"collections.OrderedDict": _ordered_dict, "builtins.set": _set, "builtins.frozenset": _frozenset,
               "__builtin__.set": _set, "__builtin__.frozenset": _frozenset}  # the last two: Python 2 pickles
_PUSH = {"NONE": lambda arg: None, "NEWTRUE": lambda arg: True, "NEWFALSE": lambda arg: False,
         "EMPTY_LIST": lambda arg: [], "EMPTY_DICT": lambda arg: {}, "EMPTY_TUPLE": lambda arg: (),
         "EMPTY_SET": lambda arg: set()}
_VALUES = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "BINBYTES", "SHORT_BINBYTES",
           "BINBYTES8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT"}
_BYTE_STRINGS = {"STRING", "BINSTRING", "SHORT_BINSTRING"}  # Python 2 str: UTF-8 text
_MEMO_PUT, _MEMO_GET = {"PUT", "BINPUT", "LONG_BINPUT"}, {"GET", "BINGET", "LONG_BINGET"}
_IGNORED = {"PROTO", "FRAME"}
_KEY_TYPES, _KEY_BITS = {str, bytes, bool, type(None)}, 64


def _update(container, items):
    container.update(items)


class _Bounded:
    """A read-only view of ``stream`` that never hands out more than ``limit`` bytes in all."""

    def __init__(self, stream, limit):
        self.stream, self.left, self.start = stream, limit, stream.tell()

    def read(self, n=-1):
        data = self.stream.read(self.left if n is None or n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def readline(self):
        data = self.stream.readline(self.left)
        self.left -= len(data)
        return data

    def tell(self):
        return self.stream.tell() - self.start


class _Machine:
    """The stack, the marks and the memo of one load, and what each opcode does to them."""

    def __init__(self, source, names, calls, persistent_load):
        self.source, self.names, self.calls, self.persistent_load = source, names, calls, persistent_load
        self.stack, self.marks, self.memo, self.result = [], [], {}, None

    def refuse(self, what):
        raise UnsafePickleError(f"{self.source}: refused to load: its pickle {what}, which plain data and tensors "
                                f"never need (nothing was run); use a file you trust, saved as a plain state_dict "
                                f"or .safetensors")

    def pop(self, count):
        if count > len(self.stack):
            raise IndexError("stack underflow")
        items = self.stack[len(self.stack) - count:]
        del self.stack[len(self.stack) - count:]
        return items

    def pop_mark(self):
        return self.pop(len(self.stack) - self.marks.pop())

    def fill(self, kinds, what, items, add):
        """Add ``items`` to the container on top, refused unless this load made it and it is of ``kinds``."""
        container = self.stack[-1]
        if type(container) not in kinds:
            self.refuse(f"{what} a {type(container).__name__}")
        if len(container) + len(items) > MAX_ITEMS:
            raise TooLargeError(f"{self.source}: a container of the pickle holds more than {MAX_ITEMS:,} entries")
        add(container, items)

    def run(self, name, arg):
        stack = self.stack
        if name in _PUSH:
            stack.append(_PUSH[name](arg))
        elif name in _VALUES:
            stack.append(bounded_int(arg, self.source, "pickle") if type(arg) is int else arg)
        elif name in _BYTE_STRINGS:
            stack.append(arg.encode("latin-1").decode("utf-8"))
        elif name == "BYTEARRAY8":
            stack.append(bytearray(arg))
        elif name == "MARK":
            self.marks.append(len(stack))
        elif name == "POP":
            self.pop(1)
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            stack.append(tuple(self.pop(int(name[-1]))))
        elif name in ("TUPLE", "LIST", "FROZENSET"):
            stack.append({"TUPLE": tuple, "LIST": list, "FROZENSET": _frozenset}[name](self.pop_mark()))
        elif name == "DICT":
            items = self.pop_mark()
            stack.append(dict(zip(_keys(items[::2]), items[1::2], strict=True)))
        elif name in ("APPEND", "APPENDS"):
            items = self.pop(1) if name == "APPEND" else self.pop_mark()
            self.fill((list,), "appends to", items, list.extend)
        elif name in ("SETITEM", "SETITEMS"):
            items = self.pop(2) if name == "SETITEM" else self.pop_mark()
            pairs = list(zip(_keys(items[::2]), items[1::2], strict=True))
            self.fill((dict, collections.OrderedDict), "sets items of", pairs, _update)
        elif name == "ADDITEMS":
            self.fill((set,), "adds items to", _keys(self.pop_mark()), _update)
        elif name in _MEMO_PUT or name == "MEMOIZE":
            self.memo[len(self.memo) if name == "MEMOIZE" else _keys([arg])[0]] = stack[-1]
        elif name in _MEMO_GET:
            stack.append(self.memo[arg])
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            module, attribute = arg.split(" ", 1) if name == "GLOBAL" else self.pop(2)
            if not (isinstance(module, str) and isinstance(attribute, str)):
                self.refuse("names a global that is not text")
            if f"{module}.{attribute}" not in self.names:
                self.refuse(f"names {module}.{attribute}")
            stack.append(Name(f"{module}.{attribute}"))
        elif name == "REDUCE":
            function, args = self.pop(2)
            if not isinstance(function, Name) or function.text not in self.calls:
                self.refuse(f"calls {function.text if isinstance(function, Name) else type(function).__name__}")
            if not isinstance(args, tuple):
                raise TypeError(f"the arguments of {function.text} are not a tuple")
            stack.append(self.calls[function.text](*args))
        elif name == "BUILD":
            self.pop(1)  # the state: the attributes of torch's state_dict OrderedDict (_metadata), dropped
            if type(stack[-1]) is not collections.OrderedDict:
                self.refuse(f"sets the state of a {type(stack[-1]).__name__}")
        elif name in ("PERSID", "BINPERSID"):
            pid = arg if name == "PERSID" else self.pop(1)[0]
            if self.persistent_load is None:
                self.refuse("refers to data outside the pickle (a persistent id)")
            stack.append(self.persistent_load(pid))
        elif name == "STOP":
            self.result = self.pop(1)[0]
        elif name not in _IGNORED:
            self.refuse(f"uses the opcode {name}")

    def check_leaf(self, node):
        if isinstance(node, Name):
            self.refuse(f"returns {node.text} itself instead of data")
        return 0


def load_pickle(stream, source, names=(), calls=None, persistent_load=None, limit=MAX_TEXT_BYTES):
    """Run the pickle at ``stream``'s position (at most ``limit`` bytes) and return what it builds.

    ``names``: the ``module.name`` strings a GLOBAL may name (besides OrderedDict, set, frozenset);
    ``calls``: ``{name: function}``, what REDUCE on that name runs (given the pickle's argument tuple);
    ``persistent_load(pid)``: turns a persistent id (PERSID/BINPERSID) into a value, or None to refuse them.
    The stream is left just after the pickle's STOP, so several pickles in one file are read in turn.
    The result is checked with ``limits.check_tree`` (depth, entries, no container holding itself).
    """
    calls = {**PLAIN_CALLS, **(calls or {})}
    machine = _Machine(source, {*calls, *names}, calls, persistent_load)
    bounded = _Bounded(stream, limit)
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(bounded), 1):
            if count > MAX_PICKLE_OPS:
                raise TooLargeError(f"{source}: the pickle runs more than {MAX_PICKLE_OPS:,} opcodes")
            machine.run(opcode.name, arg)
    except WeightsError:
        raise
    except _KeyRefused as refused:
        machine.refuse(str(refused))
    except RecursionError:
        raise TooLargeError(f"{source}: the pickle nests too deeply") from None
    except Exception as error:
        if bounded.left == 0:
            raise TooLargeError(f"{source}: the pickle is longer than the {human(limit)} read at most") from None
        raise WeightsError(f"{source}: truncated or corrupt pickle ({type(error).__name__}: {str(error)[:200]}); "
                           f"create it again") from None
    if machine.stack or machine.marks:
        raise WeightsError(f"{source}: truncated or corrupt pickle (values left on its stack); create it again")
    check_tree(machine.result, source, nbytes=machine.check_leaf)
    return machine.result


def restricted_unpickle(fileobj, allowed_extra=None):
    """Unpickle plain data (dict, list, tuple, str, bytes, int, float, OrderedDict, set) and nothing that runs.

    ``allowed_extra`` maps further ``"module.name"`` strings to the function a call of that name runs.
    """
    return load_pickle(fileobj, getattr(fileobj, "name", "pickle"), calls=allowed_extra)
