"""The question-grounded map: the Hadamard gradient through the attended features, weighted by the attention.

The paper's ∇v (eq. 2) is a guided gradient, and on two-shape scenes it behaves like guided backprop of
the answer: sharp on both shapes, hardly moved by the question. The attention α (eq. 4) moves with the
question but is coarse (S × S cells). Guided Grad-CAM (Selvaraju et al. 2017) joins such a pair by a
product: the fine map says *what* in the image, the coarse one *where* the model looked. Here:

    eq. 5, α held   v̂_g = Σ_s α_{g,s} F_s(I)  with α constant  ⇒  ∂v̂_g/∂I = Σ_s α_{g,s} ∂F_s/∂I
    ∇v^α := (V − F) ∂V/∂I |_{α const}        eq. 2 with the path through the attention cut
    ᾱ    := (1/G) Σ_g α_g, upsampled nearest to H × W
    grounded map  m(i,j) = Σ_c |∇v^α(c,i,j)| · ᾱ(i,j)

Why α held: V depends on the image twice, through the features the glimpses read (F_s, weighted by α)
and through where they look (α itself depends on F). The second path reaches every cell that could draw
the attention, the shape the question does not name included; cutting it leaves the evidence the
attended features carry. Why the mean of the glimpses: every glimpse feeds V (eq. 6), no glimpse is
chosen by hand, and the map works for any G; a single glimpse is kept as an option (``glimpse``) so the
evaluation can compare them. F is held fixed and every ReLU is guided, as in the paper's eq. 2.
∇q (eq. 3) is unchanged (L_q does not read V), so the words keep the Hadamard scores of eq. 10-11.
"""
import dataclasses

import numpy

from hadamard_min import ops
from hadamard_min.core.backend import to_numpy
from hadamard_min.explain.hadamard import deviation_gradients
from hadamard_min.explain.maps import upsample_nearest


@dataclasses.dataclass
class GroundedGradients:
    """∇v (B, 3, H, W) and ∇q (B, T, D) of one forward pass, with p(a | q, F) (B, K), α (B, G, S, S), ρ_b."""
    image: object
    words: object
    probabilities: object
    alpha: object
    lengths: object


def held_attention_output(model, out):
    """``out`` with V recomputed from the same features but α held constant (the path through α cut)."""
    batch, glimpses, size, _ = out.alpha.shape
    alpha = ops.reshape(out.alpha.detach(), (batch, glimpses, size * size))
    _, V = model.mlb.visual(alpha, model.mlb.grid(out.features))
    return dataclasses.replace(out, V=V)


def grounded_gradients(model, inputs, questions, hold_alpha=True):
    """(∇v^α or ∇v, ∇q) for the normalised network inputs (B, 3, H, W): eq. 2-3, F fixed, guided ReLUs."""
    with model.frozen():
        out, I, q, lengths = model.forward_from_leaves(inputs, questions)
        held = held_attention_output(model, out) if hold_alpha else out
        grad_v, grad_q = deviation_gradients(held, I, q)
    return GroundedGradients(image=to_numpy(grad_v).astype(numpy.float64),
                             words=to_numpy(grad_q).astype(numpy.float64), probabilities=out.probabilities(),
                             alpha=to_numpy(out.alpha.data).astype(numpy.float64), lengths=lengths)


def grounded_maps(grad_v, alpha, glimpse=None):
    """m = Σ_c |∇v| ∘ α↑ (B, H, W): α the mean of the glimpses, or glimpse ``glimpse`` (0-based) alone."""
    weights = alpha.mean(axis=1) if glimpse is None else alpha[:, glimpse]
    height, width = grad_v.shape[2:]
    return numpy.stack([numpy.abs(g).sum(axis=0) * upsample_nearest(w, height, width)
                        for g, w in zip(grad_v, weights)])
