"""Grades exercise 8: one GRU step against central differences, then ∇q = (Q − F) ∂Q/∂q through whole
questions against the package's GRU, with word and state sizes, batch and length that Hypothesis draws."""
import numpy
from grading import cases, check_gradient, compare, load
from hypothesis import strategies as st

from hadamard_min import Tensor, ops
from hadamard_min.models.question import GRU

SIZES = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 3), st.integers(1, 5))   # D, H, B, T


def grade(ex):
    @cases(SIZES, (3, 4, 2, 5), (2, 5, 1, 3), count=20)
    def check(sizes):
        D, H, B, T = sizes   # word size, state size, questions, words
        rng = numpy.random.default_rng(8)
        gru = GRU(D, H, rng=rng).astype(numpy.float64)
        weights = (gru.weight_ih.data, gru.weight_hh.data, gru.bias_ih.data, gru.bias_hh.data)
        check_gradient(f"GRUCell.backward for x ({B}, {D}), h ({B}, {H})",
                       lambda x, h: ex.GRUCell.apply(x, h, weights=weights),
                       rng.normal(size=(B, D)), rng.normal(size=(B, H)) * 0.5, names=("the word x", "the state h"),
                       hint="ex08 step")
        words = rng.normal(size=(B, T, D))
        w_q, b_q, F = rng.normal(size=(H, H)), rng.normal(size=H), rng.normal(size=(B, H))
        grads = []
        for step in (None, ex.GRUCell):
            q = Tensor(words, requires_grad=True)
            if step is None:
                h = gru(q)                                       # the package's GRU
            else:
                h = Tensor(numpy.zeros((B, H)))
                for t in range(T):
                    h = step.apply(q[:, t], h, weights=weights)  # your step, unrolled
            Q = ops.tanh(ops.linear(h, Tensor(w_q), Tensor(b_q)))
            (0.5 * ((Q - F) ** 2).sum()).backward()              # eq. 3: (Q − F) ∂Q/∂q, F fixed
            grads.append(q.grad)
        compare(f"∇q = (Q − F) ∂Q/∂q over {B} question(s) of {T} words (element = (question, word, dim))",
                grads[1], grads[0], hint="ex08 through time")
    check()


def test_exercise_08():
    grade(load("ex08_gru_cell"))
