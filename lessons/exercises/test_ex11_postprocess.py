"""Grades exercise 11: eq. 9-11 against the package's post-processing (explain/postprocess.py)."""
import numpy
from grading import compare, load

from hadamard_min.explain import postprocess


def grade(ex):
    rng = numpy.random.default_rng(12)
    grad_v = rng.normal(size=(3, 6, 5)) * numpy.array([1.0, 3.0, 0.2])[:, None, None] + 0.5
    compare("eq. 9 ∇̂v (element = (colour, row, column))", ex.normalise_pixel_map(grad_v),
            postprocess.normalise_pixel_map(grad_v), context={"∇v": grad_v},
            hint="one μ and σ over the whole gradient, all channels at once (μ(∇v) in eq. 9 has no channel "
                 "index), not one per channel; population σ (numpy's std)")
    compare("eq. 9 on a constant ∇v", ex.normalise_pixel_map(numpy.full((3, 2, 2), 0.25)), numpy.zeros((3, 2, 2)),
            hint="σ = 0: nothing stands out, return zeros")
    grad_q = rng.normal(size=(5, 4))
    scores = postprocess.token_scores(grad_q)
    compare("eq. 10 token scores (element = (token,))", ex.token_scores(grad_q), scores,
            hint="absolute values first, then the sum over the D entries of each word vector (axis 1)")
    compare("eq. 11 z-scores (element = (token,))", ex.token_z_scores(scores), postprocess.token_z_scores(scores),
            context={"score": scores}, hint="z = (s − mean) / std over the question's tokens")
    compare("eq. 11 for a one-word question", ex.token_z_scores(numpy.array([0.7])), numpy.zeros(1),
            hint="σ = 0: nothing stands out, return zeros")


def test_exercise_11():
    grade(load("ex11_postprocess"))
