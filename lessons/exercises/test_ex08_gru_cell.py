"""Grades exercise 8: one GRU step against central differences, then ∇q = (Q − F) ∂Q/∂q through a whole
question against the package's GRU."""
import numpy
from grading import check_gradient, compare, load

from hadamard_min import Tensor, ops
from hadamard_min.models.question import GRU

D, H, T = 3, 4, 5   # word size, state size, words


def grade(ex):
    rng = numpy.random.default_rng(8)
    gru = GRU(D, H, rng=rng).astype(numpy.float64)
    weights = (gru.weight_ih.data, gru.weight_hh.data, gru.bias_ih.data, gru.bias_hh.data)
    check_gradient("GRUCell.backward", lambda x, h: ex.GRUCell.apply(x, h, weights=weights),
                   rng.normal(size=(2, D)), rng.normal(size=(2, H)) * 0.5,
                   hint="input 0 is the word x, input 1 the state h; h reaches h' directly (z ∘ dh') and "
                        "through all three gates")
    words = rng.normal(size=(1, T, D))
    w_q, b_q, F = rng.normal(size=(H, H)), rng.normal(size=H), rng.normal(size=(1, H))
    grads = []
    for step in (None, ex.GRUCell):
        q = Tensor(words, requires_grad=True)
        if step is None:
            h = gru(q)                                       # the package's GRU
        else:
            h = Tensor(numpy.zeros((1, H)))
            for t in range(T):
                h = step.apply(q[:, t], h, weights=weights)  # your step, unrolled
        Q = ops.tanh(ops.linear(h, Tensor(w_q), Tensor(b_q)))
        (0.5 * ((Q - F) ** 2).sum()).backward()              # eq. 3: (Q − F) ∂Q/∂q, F fixed
        grads.append(q.grad)
    compare("∇q = (Q − F) ∂Q/∂q over 5 words (element = (question, word, dim))", grads[1], grads[0],
            hint="word t's gradient comes back through every later step: check dh, the state's gradient "
                 "passed to the step before")


def test_exercise_08():
    grade(load("ex08_gru_cell"))
