"""Post-processing of the explanation (Kim & Zhang 2017, eq. 9-11): from raw gradients to what a person sees."""
import numpy

# Equal values are equal up to rounding: [0.1, 0.1, 0.1] has σ = 1.4e-17, not 0, and (x − μ)/σ would be −1 each.
# So σ counts as 0 below 10⁻¹² of the largest |x|: above float64's rounding of equal values (~10⁻¹⁶ relative),
# and far below the smallest real spread of float32 gradients (one float32 step, ~10⁻⁷ relative).
SIGMA_ZERO = 1e-12


def normalise_pixel_map(grad_chw):
    """eq. 9: ∇̂v(i,j) = (∇v(i,j) − μ(∇v)) / σ(∇v), each channel value of each pixel.

    μ and σ are the mean and (population) standard deviation of the whole gradient, all channels and
    pixels, as eq. 9 writes them (μ(∇v), no channel index) and as the authors' code did. A constant
    gradient (σ = 0, e.g. guided backprop let nothing through) gives zeros.
    """
    return standardised(grad_chw)


def standardised(values):
    """(x − μ) / σ in float64; zeros when the values are all equal: σ ≤ 10⁻¹² max|x| (see ``SIGMA_ZERO``)."""
    values = numpy.asarray(values, dtype=numpy.float64)
    sigma = values.std()
    if sigma <= SIGMA_ZERO * numpy.abs(values).max(initial=0.0):
        return numpy.zeros_like(values)
    return (values - values.mean()) / sigma


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
    return standardised(scores)
