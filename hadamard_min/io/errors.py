"""The errors of reading and writing files: each one a user's file or path at fault, said in one line."""


class WeightsError(ValueError):
    """A weight file cannot be read, written or matched to a model."""


class UnsafePickleError(WeightsError):
    """A pickle asks for something plain data does not need (a Python object, a call, a change of state);
    nothing of it was run."""


class TooLargeError(WeightsError):
    """A file declares more than it holds, or more than a limit of :mod:`hadamard_min.io.limits` allows."""
