"""The paper's explanation (Kim & Zhang 2017, eq. 2-3 and 9-11) for your own PyTorch multimodal model.

Needs torch (``pip install 'hadamard-min[torch]'``); nothing else in hadamard-min imports this module.
Your model joins a question vector Q and an image vector V into F = Q ∘ V (eq. 6); ``explain_torch``
carries each input's deviation from F back to the inputs, F held constant, as ``explain/hadamard.py``
does on our engine:

    eq. 2   ∇v := (V − F) ∂V/∂I  = ∂/∂I ½‖V − F₀‖²     I: the images (B, 3, H, W) as the network takes them
    eq. 3   ∇q := (Q − F) ∂Q/∂q  = ∂/∂q ½‖Q − F₀‖²     q: the word vectors (B, T, D), the embedding's rows

One forward pass, two backward passes: ∇q first with ordinary gradients, then ∇v with guided backprop
at every ``nn.ReLU`` and ``nn.ReLU6`` module of ``relus`` (ReLUs called as functions, ``torch.relu`` or
``F.relu``, are not seen: make them modules). Meanwhile each such module computes y = min(max(x, 0), u)
(u = ∞ for ReLU, 6 for ReLU6; ``inplace`` is ignored) and passes back

    ∇q's pass (gradient):   dx = dy · [0 < x < u]
    ∇v's pass (guided):     dx = dy · [0 < x < u] · [dy > 0]

Then eq. 9-11 per example, by the functions of ``explain/postprocess.py``. Put the model in eval mode
first (dropout and batch statistics would make F depend on the batch); no parameter gradient is touched.

    net.eval()
    ids = torch.tensor([[4, 9, 2]])                              # a question's word ids
    result = explain_torch(lambda I, q: net.qvf(I, q),           # your model: (Q, V, F) from images and words
                           images, net.embedding(ids), relus=net)
    result.grad_v, result.grad_q                                 # ∇v (B, 3, H, W), ∇q (B, T, D): tensors
    result.pixel_map[0], result.token_z[0]                       # eq. 9 and eq. 11 of the first example
"""
from dataclasses import dataclass
from typing import Any

import numpy
import torch

from hadamard_min.explain.postprocess import gradient_heatmap, normalise_pixel_map, token_scores, token_z_scores


@dataclass
class TorchExplanation:
    """What :func:`explain_torch` computes for a batch of B examples.

    grad_v, grad_q: ∇v (B, 3, H, W) and ∇q (B, T, D) as tensors on the inputs' device (eq. 2-3);
    pixel_map: eq. 9 per example (B, 3, H, W) and heatmap: Σ_c |∇v| / max (B, H, W), NumPy float64;
    token_scores, token_z: eq. 10 and 11, one array per example over its ``lengths[b]`` real tokens;
    outputs: what ``forward`` returned (the logits with it, say).
    """
    grad_v: Any
    grad_q: Any
    pixel_map: numpy.ndarray
    heatmap: numpy.ndarray
    token_scores: list
    token_z: list
    outputs: Any


class _Pass:
    """Which backward pass runs: the rectifiers read ``guided`` when the gradient comes back through them."""
    guided = False


class _Rectifier(torch.autograd.Function):
    """y = min(max(x, 0), u);  dx = dy · [0 < x < u], and · [dy > 0] in the guided pass (module docstring).

    Keeps y: [0 < y < u] = [0 < x < u]."""

    @staticmethod
    def forward(ctx, x, upper, current):
        y = x.clamp(min=0, max=upper)
        ctx.save_for_backward(y)
        ctx.upper, ctx.current = upper, current
        return y

    @staticmethod
    def backward(ctx, dy):
        y, = ctx.saved_tensors
        open_interval = y > 0 if ctx.upper is None else (y > 0) & (y < ctx.upper)
        if ctx.current.guided:
            dy = dy.clamp(min=0)
        return dy * open_interval, None, None


def _rectifiers(relus):
    """The ``nn.ReLU`` and ``nn.ReLU6`` modules of ``relus`` (None: none), each with its upper bound u."""
    if relus is None:
        return []
    found = [(m, None) for m in relus.modules() if isinstance(m, torch.nn.ReLU)]
    return found + [(m, 6.0) for m in relus.modules() if isinstance(m, torch.nn.ReLU6)]


def _outputs(returned):
    """Q, V, F from ``forward``'s result: a (Q, V, F, ...) sequence or a mapping with keys "Q", "V", "F"."""
    try:
        Q, V, F = ((returned["Q"], returned["V"], returned["F"]) if hasattr(returned, "keys")
                   else tuple(returned)[:3])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError("forward must return (Q, V, F) or a mapping with keys 'Q', 'V' and 'F'") from error
    if not all(isinstance(x, torch.Tensor) for x in (Q, V, F)) or not Q.shape == V.shape == F.shape:
        raise ValueError("forward's Q, V and F must be tensors of one shape (B, d): F = Q ∘ V")
    return Q, V, F


def explain_torch(forward, images, words, relus=None, lengths=None, guided=True):
    """∇v and ∇q (eq. 2-3, F held constant) and eq. 9-11 for a PyTorch model: a :class:`TorchExplanation`.

    ``forward(I, q)`` runs the model on images I (B, 3, H, W) and word vectors q (B, T, D) and returns
    (Q, V, F) or a mapping with "Q", "V" and "F" (other entries are kept in ``outputs``). ``images`` and
    ``words`` are the inputs, copied into fresh leaf tensors. ``relus``: the ``nn.Module`` whose ``nn.ReLU``
    and ``nn.ReLU6`` modules pass guided backprop's rule in the ∇v pass (``guided=False``: plain gradients).
    ``lengths``: each question's number of real tokens (default T): eq. 10-11 score those only.
    """
    I = images.detach().clone().requires_grad_(True)
    q = words.detach().clone().requires_grad_(True)
    lengths = [q.shape[1]] * q.shape[0] if lengths is None else [int(n) for n in lengths]
    current = _Pass()
    modules = _rectifiers(relus)
    own = [module.__dict__.get("forward") for module, _ in modules]  # a forward set on the instance, if any
    for module, upper in modules:
        module.forward = lambda x, upper=upper: _Rectifier.apply(x, upper, current)
    try:
        with torch.enable_grad():
            returned = forward(I, q)
            Q, V, F = _outputs(returned)
            F = F.detach()                                                 # F held constant: F₀
            grad_q, = torch.autograd.grad(0.5 * ((Q - F) ** 2).sum(), q, retain_graph=True)   # eq. 3
            current.guided = guided
            grad_v, = torch.autograd.grad(0.5 * ((V - F) ** 2).sum(), I)                      # eq. 2
    finally:
        for (module, _), forward_before in zip(modules, own):
            if forward_before is None:
                del module.forward                                         # the class's forward again
            else:
                module.forward = forward_before
    v, gq = (g.detach().cpu().to(torch.float64).numpy() for g in (grad_v, grad_q))  # eq. 9-11 in float64
    scores = [token_scores(gq[b, :n]) for b, n in enumerate(lengths)]                 # eq. 10
    return TorchExplanation(grad_v=grad_v, grad_q=grad_q,
                            pixel_map=numpy.stack([normalise_pixel_map(x) for x in v]),  # eq. 9
                            heatmap=numpy.stack([gradient_heatmap(x) for x in v]),
                            token_scores=scores, token_z=[token_z_scores(s) for s in scores],  # eq. 11
                            outputs=returned)
