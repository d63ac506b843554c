"""cupy.random: CuPy's own generator, stood in for by a NumPy one (the numbers differ, as CuPy's differ from
NumPy's); floats only in float32 or float64, as in CuPy."""
import numpy

from ._array import ndarray

_rng = numpy.random.default_rng()


def seed(seed=None):
    global _rng
    _rng = numpy.random.default_rng(seed)


def _draw(method, size, dtype, *args):
    dtype = numpy.dtype(dtype)
    if dtype not in (numpy.float32, numpy.float64):
        raise TypeError(f"Unsupported dtype {dtype}")
    values = getattr(_rng, method)(*args, size=size)
    return ndarray._of(numpy.asarray(values, dtype=dtype))


def random_sample(size=None, dtype=float):
    return _draw("random", size, dtype)


random = ranf = sample = random_sample


def rand(*size, dtype=float):
    return random_sample(size, dtype)


def standard_normal(size=None, dtype=float):
    return _draw("standard_normal", size, dtype)


def randn(*size, dtype=float):
    return standard_normal(size, dtype)


def normal(loc=0.0, scale=1.0, size=None, dtype=float):
    return _draw("normal", size, dtype, loc, scale)


def uniform(low=0.0, high=1.0, size=None, dtype=float):
    return _draw("uniform", size, dtype, low, high)
