"""The question encoder: a word lookup table (the q of eq. 3) followed by a GRU.

For a question of ρ words, the table gives q = [q_1 … q_ρ] (ρ × D word vectors); the GRU reads them in
order and its state after the last real word is the question vector (the paper's **q** of eq. 4-6).

The GRU, with gates in PyTorch's [r | z | n] order and σ the logistic function::

    r_t = σ(W_ir x_t + b_ir + W_hr h + b_hr)                reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h + b_hz)                update gate
    n_t = tanh(W_in x_t + b_in + r_t ∘ (W_hn h + b_hn))     candidate, "reset_after" (PyTorch, skip-thoughts)
    n_t = tanh(W_in x_t + b_in + W_hn (r_t ∘ h) + b_hn)     candidate, "reset_before" (Torch7 `rnn`, MLB)
    h_t = (1 − z_t) ∘ n_t + z_t ∘ h

Porting the Torch7 form, whose hidden-to-candidate map has no bias, means b_hn = 0.
Backpropagation through time needs no code of its own: every step is built from the engine's ops
(linear, sigmoid, tanh, mul), so the backward walk runs through the unrolled steps.
"""
import math

import numpy

from hadamard_min import ops
from hadamard_min.core.backend import get_xp, to_device, to_numpy
from hadamard_min.core.tensor import Tensor
from hadamard_min.nn.init import uniform
from hadamard_min.nn.layers import Embedding
from hadamard_min.nn.module import Module, Parameter

CANDIDATES = ("reset_after", "reset_before")


class GRU(Module):
    """A single-layer GRU over (B, T, D) inputs; parameters named and shaped as ``torch.nn.GRU``'s.

    ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), ``bias_ih`` (3H), ``bias_hh`` (3H), rows [r | z | n].
    Initialisation as PyTorch: every entry U(−1/√H, 1/√H).
    """

    def __init__(self, input_dim, hidden_dim, candidate="reset_after", rng=None):
        if candidate not in CANDIDATES:
            raise ValueError(f"candidate must be one of {CANDIDATES}, not {candidate!r}")
        rng = rng or numpy.random.default_rng(0)
        bound = 1 / math.sqrt(hidden_dim)
        self.weight_ih = Parameter(uniform((3 * hidden_dim, input_dim), bound, rng))
        self.weight_hh = Parameter(uniform((3 * hidden_dim, hidden_dim), bound, rng))
        self.bias_ih = Parameter(uniform((3 * hidden_dim,), bound, rng))
        self.bias_hh = Parameter(uniform((3 * hidden_dim,), bound, rng))
        self.input_dim, self.hidden_dim, self.candidate = input_dim, hidden_dim, candidate

    def forward(self, x, lengths=None, return_states=False):
        """Run over ``x`` (B, T, D), padded at the end; ``lengths`` (B,) are the true lengths (default T).

        Returns h (B, H), the state after each sequence's last real step; with ``return_states`` also all
        states (B, T, H). A step past a sequence's length keeps its state: h ← m ∘ h_new + (1 − m) ∘ h
        with the mask m = [t < length] (so padding gets no gradient either).
        """
        batch, steps, _ = x.shape
        hidden = self.hidden_dim
        lengths = numpy.full(batch, steps) if lengths is None else to_numpy(lengths).reshape(-1)
        xp = get_xp()
        # All input projections at once: one matmul for every time step, (B, T, 3H).
        projected = ops.linear(x, self.weight_ih, self.bias_ih)
        # The recurrent weights split once into their gate blocks (not at every step).
        w_rz, w_n = self.weight_hh[: 2 * hidden], self.weight_hh[2 * hidden:]
        b_rz, b_n = self.bias_hh[: 2 * hidden], self.bias_hh[2 * hidden:]
        h = Tensor(xp.zeros((batch, hidden), dtype=x.dtype))
        states = []
        for t in range(steps):
            active = t < lengths
            if active.any():
                h_new = self._step(projected[:, t], h, w_rz, w_n, b_rz, b_n)
                if active.all():
                    h = h_new
                else:
                    m = Tensor(to_device(active[:, None].astype(x.dtype)))
                    h = h_new * m + h * (1 - m)
            states.append(h)
        if return_states:
            return h, ops.stack(states, axis=1)
        return h

    def _step(self, x_t, h, w_rz, w_n, b_rz, b_n):
        """One GRU step from the projected input x_t = W_i x + b_i (B, 3H) and the state h (B, H)."""
        hidden = self.hidden_dim
        rz = ops.sigmoid(x_t[:, : 2 * hidden] + ops.linear(h, w_rz, b_rz))
        r, z = rz[:, :hidden], rz[:, hidden:]
        if self.candidate == "reset_after":
            n = ops.tanh(x_t[:, 2 * hidden:] + r * ops.linear(h, w_n, b_n))
        else:
            n = ops.tanh(x_t[:, 2 * hidden:] + ops.linear(r * h, w_n, b_n))
        return (1 - z) * n + z * h


class QuestionEncoder(Module):
    """Word ids → word vectors (the q of eq. 3, B × T × D) → GRU → question vector (B × N)."""

    def __init__(self, num_words, word_dim, hidden_dim, candidate="reset_after", rng=None):
        rng = rng or numpy.random.default_rng(0)
        self.embedding = Embedding(num_words, word_dim, rng=rng)
        self.gru = GRU(word_dim, hidden_dim, candidate=candidate, rng=rng)
        self.arguments = {"num_words": num_words, "word_dim": word_dim, "hidden_dim": hidden_dim,
                          "candidate": candidate}

    def config(self):
        """The constructor's arguments (``QuestionEncoder(**encoder.config())`` rebuilds it)."""
        return dict(self.arguments)

    def embed(self, ids):
        """The word vectors of integer ``ids`` (B, T): rows of the lookup table, (B, T, D)."""
        return self.embedding(to_device(ids))

    def encode(self, word_vectors, lengths):
        """The question vector: the GRU's state after each question's last word, (B, N)."""
        return self.gru(word_vectors, lengths)

    def forward(self, ids, lengths):
        """``(q, word_vectors)``: the question vector (B, N) and the word vectors it was read from (B, T, D).

        The word vectors are returned so that a caller can take the gradient at them (``retain_grad()``).
        """
        word_vectors = self.embed(ids)
        return self.encode(word_vectors, lengths), word_vectors
