"""Exercise 8: one GRU step and its backward: the ∂Q/∂q of eq. 3, through time.

The question encoder reads the word vectors q_1 … q_ρ (the q of eq. 3) with a GRU; its last state is the
question vector (the bold **q** of eq. 4-6), and Q = σ(W_qᵀ **q**). So ∇q = (Q − F) ∂Q/∂q passes back
through every GRU step: the gradient of word t is what reaches step t from all the steps after it.

One step, PyTorch's form (rows of the weights in the order [r | z | n], W_i* (H, D), W_h* (H, H)):

    r  = sigmoid(x W_irᵀ + b_ir + h W_hrᵀ + b_hr)         reset gate
    z  = sigmoid(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)         update gate
    g  = h W_hnᵀ + b_hn
    n  = tanh(x W_inᵀ + b_in + r ∘ g)                     candidate
    h' = (1 − z) ∘ n + z ∘ h

Write ``GRUCell.backward(dh')`` → (dx, dh), the weights held fixed: dh' is (B, H), dx (B, D), dh (B, H).
The forward saved h, r, z, g, n. Draw the step as a graph (lesson 01's way) and walk it back from h';
mind that h reaches h' along more than one path, and that each gate is a sigmoid of a sum of two linear
maps. Lesson 06 shows ∇q, the gradient this step is part of.

The grader chains your step over questions and compares ∇q with the package's GRU (``models/question.py``),
whose backward is the engine's walk through the unrolled steps.

Check:  hadamard-exercises grade 8      (in the folder made by ``hadamard-exercises start DIR``)
"""
import numpy

from hadamard_min.core.function import Function


def sigmoid(a):
    return 0.5 * (numpy.tanh(0.5 * a) + 1)


class GRUCell(Function):
    """h' = GRU(x, h) with fixed ``weights`` = (w_ih (3H, D), w_hh (3H, H), b_ih (3H,), b_hh (3H,))."""

    def forward(self, x, h):
        w_ih, w_hh, b_ih, b_hh = self.weights
        hidden = h.shape[-1]
        gates_x, gates_h = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r = sigmoid(gates_x[:, :hidden] + gates_h[:, :hidden])
        z = sigmoid(gates_x[:, hidden:2 * hidden] + gates_h[:, hidden:2 * hidden])
        g = gates_h[:, 2 * hidden:]
        n = numpy.tanh(gates_x[:, 2 * hidden:] + r * g)
        self.save(h, r, z, g, n)
        return (1 - z) * n + z * h

    def backward(self, dh_new):
        raise NotImplementedError("exercise 8: write GRUCell.backward: (dx, dh) from dh' and the saved h, r, z, g, n, "
                                  "the weights fixed")
