"""The errors of reading and writing files: each one a user's file or path at fault, said in one line."""
import contextlib
import reprlib


class WeightsError(ValueError):
    """A weight file cannot be read, written or matched to a model."""


class UnsafePickleError(WeightsError):
    """A pickle asks for something plain data does not need (a Python object, a call, a change of state);
    nothing of it was run."""


class TooLargeError(WeightsError):
    """A file declares more than it holds, or more than a limit of :mod:`hadamard_min.io.limits` allows."""


class _Brief(reprlib.Repr):
    """reprlib's repr, bounded in depth and breadth, for the types it would write in full too (bytes, an
    OrderedDict, any object): at most 4 entries of each container, 2 levels deep, whatever the value holds."""

    def __init__(self):
        super().__init__()
        self.maxlevel = 2
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 4

    def repr_OrderedDict(self, value, level):
        return self.repr_dict(value, level)

    def repr_bytes(self, value, level):
        return repr(value[:self.maxstring])

    repr_bytearray = repr_bytes

    def repr_Name(self, value, level):  # safe_pickle.Name, what a pickle's GLOBAL pushes
        return value.text[:self.maxother]

    def repr_instance(self, value, level):
        return repr(value) if type(value) in (float, bool, type(None)) else f"<{type(value).__name__}>"


def brief(value):
    """``value`` for a message, at most a few hundred characters, in time and memory bounded whatever it is.
    ``str(value)[:80]`` writes the whole value first: a list a pickle's memo repeats 1000 times at each of 4
    levels (17 KB of file) would be 10^12 characters."""
    return _Brief().repr(value)


@contextlib.contextmanager
def reported_as_corrupt(source, what, advice="download it again"):
    """Inside this block any error a reader did not foresee (a struct, zip or pickle error on bytes it
    trusted) is the file's fault: one ``WeightsError`` naming ``source`` and ``what`` it should be."""
    try:
        yield
    except (WeightsError, MemoryError):
        raise
    except Exception as error:
        raise WeightsError(f"{source}: truncated or corrupt {what} ({type(error).__name__}: {str(error)[:200]}); "
                           f"{advice}") from None
