"""The errors of reading and writing files: each one a user's file or path at fault, said in one line."""
import contextlib


class WeightsError(ValueError):
    """A weight file cannot be read, written or matched to a model."""


class UnsafePickleError(WeightsError):
    """A pickle asks for something plain data does not need (a Python object, a call, a change of state);
    nothing of it was run."""


class TooLargeError(WeightsError):
    """A file declares more than it holds, or more than a limit of :mod:`hadamard_min.io.limits` allows."""


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
