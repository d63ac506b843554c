"""Post-processing of the explanation (Kim & Zhang 2017, eq. 9-11): from raw gradients to what a person sees."""
import numpy


def normalise_pixel_map(grad_chw):
    """eq. 9: ∇̂v(i,j) = (∇v(i,j) − μ(∇v)) / σ(∇v), each channel value of each pixel.

    μ and σ are the mean and (population) standard deviation of the whole gradient, all channels and
    pixels, as eq. 9 writes them (μ(∇v), no channel index) and as the authors' code did. A constant
    gradient (σ = 0, e.g. guided backprop let nothing through) gives zeros.
    """
    grad = numpy.asarray(grad_chw, dtype=numpy.float64)
    sigma = grad.std()
    if sigma == 0:
        return numpy.zeros_like(grad)
    return (grad - grad.mean()) / sigma


def gradient_heatmap(grad_chw):
    """h(i,j) = Σ_c |∇v(c,i,j)| / max h: how strongly each pixel moves the deviation, in [0, 1].

    A zero gradient gives zeros.
    """
    magnitude = numpy.abs(numpy.asarray(grad_chw, dtype=numpy.float64)).sum(axis=0)
    peak = magnitude.max()
    return magnitude / peak if peak > 0 else magnitude


def token_scores(grad_q):
    """eq. 10: ∇̂q(i) = Σ_d |∇q(i,d)| for each of the question's ρ tokens, from ∇q (ρ, D)."""
    return numpy.abs(numpy.asarray(grad_q, dtype=numpy.float64)).sum(axis=1)


def token_z_scores(scores):
    """eq. 11: z_i = (∇̂q(i) − μ(∇̂q)) / σ(∇̂q) over the question's tokens (population σ).

    All scores equal (σ = 0, e.g. a one-word question) gives zeros: no token stands out.
    """
    scores = numpy.asarray(scores, dtype=numpy.float64)
    sigma = scores.std()
    if sigma == 0:
        return numpy.zeros_like(scores)
    return (scores - scores.mean()) / sigma
