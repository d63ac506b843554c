"""Grades exercise 11: eq. 9-11 against the package's post-processing (explain/postprocess.py), on sizes
Hypothesis draws (H ≠ W, questions of 1-6 tokens), and zeros where nothing stands out (equal values whose
floating-point σ is not exactly 0), in any unit: a real spread of 10⁻¹¹ stands out, the rounding noise of
equal values near 10⁶ (σ 10⁻¹⁰) does not."""
import numpy
from grading import cases, compare, left_alone, load, running
from hypothesis import strategies as st

from hadamard_min.explain import postprocess

SIZES = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(2, 6), st.integers(1, 5))   # H, W, ρ, D
EQUAL = st.sampled_from([0.1, 0.25, 1e-7, 3.0, -0.1, 987654.321])
TINY = 1e-11   # a unit in which ∇v and the scores spread by about 10⁻¹¹: less than 10⁶'s rounding noise
UNITLESS = ("right in one unit, wrong in another: z-scores have no unit; is σ compared with a fixed number, not "
            "with the values' size?")


def per_channel(got, grad_v):
    """A diagnosis: the map standardised one colour channel at a time."""
    del grad_v
    means, sigmas = got.mean(axis=(1, 2)), got.std(axis=(1, 2))
    if got.shape[1] * got.shape[2] > 1 and numpy.allclose(means, 0, atol=1e-9) and numpy.allclose(sigmas, 1):
        return "each colour channel of yours has mean 0 and σ 1 on its own: μ and σ were taken per channel"
    return ""


def check_unit(ex, grad_v, scores):
    """eq. 9 and 11 on the same values in a unit 10¹¹ times larger: z-scores have no unit, so nothing changes."""
    for eq, function, values in (("eq. 9", "normalise_pixel_map", grad_v * TINY),
                                 ("eq. 11", "token_z_scores", scores * TINY)):
        with running(f"{function} of values × {TINY:g}"):
            got = getattr(ex, function)(values)
        compare(f"{eq} of values {values.shape} × {TINY:g}, σ {values.std():.2g}", got,
                getattr(postprocess, function)(values), hint=f"ex11 {eq}", diagnose=lambda got, expected: UNITLESS)


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
        check_unit(ex, grad_v, scores)

    @cases(st.tuples(EQUAL, st.integers(1, 5)), (0.1, 3), (0.7, 1), (-0.1, 3), (987654.321, 5))
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
