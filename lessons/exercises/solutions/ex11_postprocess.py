"""Exercise 11, the blanks filled."""
import numpy


def normalise_pixel_map(grad_v):
    grad = numpy.asarray(grad_v, dtype=numpy.float64)
    sigma = grad.std()
    if sigma <= 1e-12 * numpy.abs(grad).max(initial=0):   # all equal, up to rounding
        return numpy.zeros_like(grad)
    return (grad - grad.mean()) / sigma


def token_scores(grad_q):
    return numpy.abs(numpy.asarray(grad_q, dtype=numpy.float64)).sum(axis=1)


def token_z_scores(scores):
    scores = numpy.asarray(scores, dtype=numpy.float64)
    sigma = scores.std()
    if sigma <= 1e-12 * numpy.abs(scores).max(initial=0):   # all equal, up to rounding
        return numpy.zeros_like(scores)
    return (scores - scores.mean()) / sigma
