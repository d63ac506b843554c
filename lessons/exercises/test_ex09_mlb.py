"""Grades exercise 9: every output of eq. 4-7 against the package's MLB module, in float64."""
import numpy
from grading import compare, load

from hadamard_min import Tensor
from hadamard_min.models.mlb import MLB

N, M, S, A, J, G, K = 6, 5, 3, 4, 4, 2, 7   # question, visual, grid side, attention, joint, glimpses, answers
HINTS = {"α (eq. 4)": "the softmax runs over the S² locations (axis 1 of the (B, S², G) scores), one "
                      "distribution per glimpse; then transpose to (B, G, S²) and reshape to (B, G, S, S)",
         "Q (eq. 6)": "Q = tanh(linear_q_fusion(question))",
         "V (eq. 6)": "one linear map per glimpse on its v̂_g, tanh, then concatenate along axis 1",
         "F (eq. 6)": "F = Q ∘ V, the Hadamard product",
         "logits (eq. 7)": "logits = linear_classif(F)"}


def grade(ex):
    rng = numpy.random.default_rng(9)
    mlb = MLB(N, M, J, G, K, attention_dim=A, rng=rng).eval().astype(numpy.float64)
    question, features = Tensor(rng.normal(size=(2, N))), Tensor(rng.normal(size=(2, M, S, S)))
    got = ex.mlb_forward(mlb, question, features)
    out = mlb(question, features)
    expected = (out.alpha, out.Q, out.V, out.F, out.logits)
    for (name, hint), ours, theirs in zip(HINTS.items(), got, expected):
        compare(name, None if ours is None else ours.data, theirs.data, hint=hint)


def test_exercise_09():
    grade(load("ex09_mlb"))
