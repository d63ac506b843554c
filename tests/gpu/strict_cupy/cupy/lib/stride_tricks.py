"""cupy.lib.stride_tricks: ``as_strided(x, shape=None, strides=None)``, CuPy's signature (no ``writeable``)."""
import numpy

from .._array import ndarray


def as_strided(x, shape=None, strides=None):
    if not isinstance(x, ndarray):
        raise TypeError(f"Unsupported type {type(x)}")
    return ndarray._of(numpy.lib.stride_tricks.as_strided(x._a, shape, strides))
