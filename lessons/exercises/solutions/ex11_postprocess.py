"""Exercise 11, the blanks filled."""
import numpy


def standardise(values):
    """(x − μ) / σ over all of ``values``; zeros where σ is rounding noise against the values' size (equal
    floats: the σ of [0.1, 0.1, 0.1] is 1.4e-17, not 0)."""
    values = numpy.asarray(values, dtype=numpy.float64)
    sigma = values.std()
    if sigma <= 1e-12 * numpy.abs(values).max(initial=0.0):
        return numpy.zeros_like(values)
    return (values - values.mean()) / sigma


def normalise_pixel_map(grad_v):
    return standardise(grad_v)


def token_scores(grad_q):
    return numpy.abs(numpy.asarray(grad_q, dtype=numpy.float64)).sum(axis=1)


def token_z_scores(scores):
    return standardise(scores)
