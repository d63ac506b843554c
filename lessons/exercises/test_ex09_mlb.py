"""Grades exercise 9: every output of eq. 4-7 against the package's MLB module in float64, then the
gradients through ``mlb_forward`` with respect to the question and the feature grid against central
differences, on sizes (batch, N, M, S, A, J, G, K) that Hypothesis draws."""
import numpy
from grading import ExerciseFailure, cases, check_gradient, compare, load, running
from hypothesis import strategies as st

from hadamard_min import Tensor, ops
from hadamard_min.models.mlb import MLB

NAMES = ("α (eq. 4)", "Q (eq. 6)", "V (eq. 6)", "F (eq. 6)", "logits (eq. 7)")
# batch, question N, visual M, grid side S, attention A, joint J, glimpses G, answers K
SIZES = st.tuples(*(st.integers(1, top) for top in (2, 5, 4, 3, 4, 3, 3, 4)))


def alpha_diagnosis(got, expected):
    """What a wrong α looks like: the right numbers in the wrong places, or not a distribution per glimpse."""
    if numpy.allclose(numpy.sort(got, axis=None), numpy.sort(expected, axis=None), rtol=1e-9, atol=1e-12):
        return ("α holds the right numbers in the wrong places: a reshape where the axes had to be swapped "
                "(a transpose), or the locations read in another order?")
    sums = got.sum(axis=(2, 3))
    if not numpy.allclose(sums, 1.0, atol=1e-9):
        return (f"each glimpse's α must sum to 1 over its S² locations; yours sums to {sums.reshape(-1)[0]:.6g} "
                "for the first glimpse of the first question: the softmax runs over another axis")
    return "each glimpse's α sums to 1, but to the wrong distribution: look at the scores before the softmax"


def grade(ex):
    @cases(SIZES, (2, 6, 5, 3, 4, 4, 2, 7), (1, 3, 2, 2, 3, 2, 1, 3), count=15)
    def check(sizes):
        B, N, M, S, A, J, G, K = sizes
        rng = numpy.random.default_rng(9)
        mlb = MLB(N, M, J, G, K, attention_dim=A, rng=rng).eval().astype(numpy.float64)
        question, features = rng.normal(size=(B, N)), rng.normal(size=(B, M, S, S))
        case = f"B = {B}, N = {N}, M = {M}, S = {S}, A = {A}, J = {J}, G = {G}, K = {K}"
        with running(f"mlb_forward ({case})"):
            got = ex.mlb_forward(mlb, Tensor(question), Tensor(features))
        if not isinstance(got, tuple) or len(got) != 5:
            raise ExerciseFailure(f"mlb_forward ({case}) must return (alpha, Q, V, F, logits)")
        out = mlb(Tensor(question), Tensor(features))
        for name, ours, theirs in zip(NAMES, got, (out.alpha, out.Q, out.V, out.F, out.logits)):
            ours = None if ours is None else numpy.asarray(getattr(ours, "data", ours))
            compare(f"{name} ({case})", ours, theirs.data, hint=f"ex09 {name}",
                    diagnose=alpha_diagnosis if name == NAMES[0] else None)
        arrays = [f"{name} is a {type(x).__name__}" for name, x in zip(NAMES, got) if not isinstance(x, Tensor)]
        if arrays:   # right values taken out of the graph (.data, numpy): no gradient can come back through them
            raise ExerciseFailure(f"mlb_forward ({case}): {', '.join(arrays)}, not a Tensor: return the Tensors the "
                                  "engine's ops made, so that the gradients of eq. 2-3 can flow back through them")

        def outputs(q, f):
            return ops.concatenate([ops.reshape(t, (B, -1)) for t in ex.mlb_forward(mlb, q, f)], axis=1)
        check_gradient(f"the gradient through mlb_forward's (alpha, Q, V, F, logits) ({case})", outputs, question,
                       features, names=("question", "features"),
                       hint="ex09 graph")
    check()


def test_exercise_09():
    grade(load("ex09_mlb"))
