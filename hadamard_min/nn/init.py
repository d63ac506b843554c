"""Initialisers: PyTorch's defaults, drawn from a NumPy generator so that a seed fixes every weight."""
import math

import numpy

from hadamard_min.core.backend import get_xp


def uniform(shape, bound, rng):
    """U(−bound, bound) in float32, on the current device (Linear and GRU: bound = 1/√fan_in)."""
    return get_xp().asarray(rng.uniform(-bound, bound, shape).astype(numpy.float32))


def he_normal(shape, rng):
    """N(0, 2 / fan_out) in float32 with fan_out = shape[0]·kh·kw (torchvision's ResNet convolutions)."""
    fan_out = shape[0] * math.prod(shape[2:])
    return get_xp().asarray((rng.standard_normal(shape) * math.sqrt(2 / fan_out)).astype(numpy.float32))
