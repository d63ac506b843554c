"""Grades exercise 11: eq. 9-11 against the package's post-processing (explain/postprocess.py), on sizes
Hypothesis draws (H ≠ W, questions of 1-6 tokens), and zeros where nothing stands out (equal values whose
floating-point σ is not exactly 0)."""
import numpy
from grading import cases, compare, left_alone, load, running
from hypothesis import strategies as st

from hadamard_min.explain import postprocess

SIZES = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(2, 6), st.integers(1, 5))   # H, W, ρ, D
EQUAL = st.sampled_from([0.1, 0.25, 1e-7, 3.0])


def per_channel(got, grad_v):
    """A diagnosis: the map standardised one colour channel at a time."""
    del grad_v
    means, sigmas = got.mean(axis=(1, 2)), got.std(axis=(1, 2))
    if got.shape[1] * got.shape[2] > 1 and numpy.allclose(means, 0, atol=1e-9) and numpy.allclose(sigmas, 1):
        return "each colour channel of yours has mean 0 and σ 1 on its own: μ and σ were taken per channel"
    return ""


def grade(ex):
    @cases(SIZES, (6, 5, 5, 4), (2, 7, 3, 2))
    def check(sizes):
        h, w, rho, d = sizes
        rng = numpy.random.default_rng(12)
        grad_v = rng.normal(size=(3, h, w)) * numpy.array([1.0, 3.0, 0.2])[:, None, None] + 0.5
        with running(f"normalise_pixel_map of ∇v (3, {h}, {w})"), left_alone("normalise_pixel_map", {"∇v": grad_v}):
            got = ex.normalise_pixel_map(grad_v)
        compare(f"eq. 9 ∇̂v of ∇v (3, {h}, {w}) (element = (colour, row, column))", got,
                postprocess.normalise_pixel_map(grad_v), context={"∇v": grad_v}, diagnose=per_channel,
                hint="ex11 eq. 9")
        grad_q = rng.normal(size=(rho, d))
        scores = postprocess.token_scores(grad_q)
        with running(f"token_scores of ∇q ({rho}, {d})"), left_alone("token_scores", {"∇q": grad_q}):
            got = ex.token_scores(grad_q)
        compare(f"eq. 10 token scores of ∇q ({rho}, {d}) (element = (token,))", got, scores,
                hint="ex11 eq. 10")
        with running(f"token_z_scores of {rho} scores"), left_alone("token_z_scores", {"scores": scores}):
            got = ex.token_z_scores(scores)
        compare(f"eq. 11 z-scores of {rho} tokens (element = (token,))", got, postprocess.token_z_scores(scores),
                context={"score": scores}, hint="ex11 eq. 11")

    @cases(st.tuples(EQUAL, st.integers(1, 5)), (0.1, 3), (0.7, 1))
    def check_nothing_stands_out(case):
        value, count = case
        with running(f"token_z_scores of {count} equal scores {value}"):
            got = ex.token_z_scores(numpy.full(count, value))
        compare(f"eq. 11 for {count} equal scores {value} (σ in floating point: "
                f"{numpy.full(count, value).std():.2g})", got, numpy.zeros(count),
                hint="ex11 equal scores")
        with running(f"normalise_pixel_map of a constant ∇v = {value}"):
            got = ex.normalise_pixel_map(numpy.full((3, 2, count), value))
        compare(f"eq. 9 on a constant ∇v (3, 2, {count}) = {value}", got, numpy.zeros((3, 2, count)),
                hint="ex11 constant ∇v")
    check()
    check_nothing_stands_out()


def test_exercise_11():
    grade(load("ex11_postprocess"))
