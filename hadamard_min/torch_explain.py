"""The paper's explanation (Kim & Zhang 2017, eq. 2-3 and 9-11) for your own PyTorch multimodal model.

Needs torch (``pip install 'hadamard-min[torch]'``); nothing else in hadamard-min imports this module.
Your model joins a question vector Q and an image vector V into F = Q ∘ V (eq. 6); ``explain_torch``
carries each input's deviation from F back to the inputs, F held constant, as ``explain/hadamard.py``
does on our engine:

    eq. 2   ∇v := (V − F) ∂V/∂I  = ∂/∂I ½‖V − F₀‖²     I: the images (B, 3, H, W) as the network takes them
    eq. 3   ∇q := (Q − F) ∂Q/∂q  = ∂/∂q ½‖Q − F₀‖²     q: the word vectors (B, T, D), the embedding's rows

One forward pass, two backward passes: ∇q first with ordinary gradients, then ∇v with guided backprop
at every ``nn.ReLU`` and ``nn.ReLU6`` module of ``relus`` (a ReLU called as a function, ``torch.relu`` or
``F.relu``, or a module outside ``relus``, is refused where V's gradient goes through it: make it a module of
``relus``; with none found guided backprop is refused, not silently left out). Meanwhile each such module
computes y = min(max(x, 0), u) (u = ∞ for ReLU, 6 for ReLU6; in x itself
where the module is ``inplace``, as its own forward does) and passes back

    ∇q's pass (gradient):   dx = dy · [0 < x < u]            (torch's own rule)
    ∇v's pass (guided):     dx = dy · [0 < x < u] · [dy > 0]

With ``guided=False`` no module is touched: both passes are the model's own gradients. A subclass of
``nn.ReLU`` or ``nn.ReLU6`` with a ``forward`` of its own is refused there, as the rule above is not its
gradient. Calls wait for one another, from any thread: a module patched for one call would serve another,
and two at once would undo each other's patches. Then eq. 9-11 per example, by the functions of
``explain/postprocess.py``. Put the model in eval mode first: the model in training mode, or a module of it
whose output depends on the mode (dropout, running statistics), is refused, as dropout would make the
explanation random and batch statistics would change the model's running averages (before it runs, or, for a
module ``forward`` calls that is not in ``relus``, as it is called: ``torch_model.py``). No parameter gradient
is touched, and no graph is kept once the call returns.

    net.eval()
    ids = torch.tensor([[4, 9, 2]])                              # a question's word ids
    result = explain_torch(lambda I, q: net.qvf(I, q),           # your model: (Q, V, F) from images and words
                           images, net.embedding(ids), relus=net)
    result.grad_v, result.grad_q                                 # ∇v (B, 3, H, W), ∇q (B, T, D): tensors
    result.pixel_map[0], result.token_z[0]                       # eq. 9 and eq. 11 of the first example
"""
import contextlib
import operator
import threading
from dataclasses import dataclass
from typing import Any

import numpy

try:
    import torch
except ModuleNotFoundError as missing:  # the optional extra: say which, as the CLIs do
    raise ModuleNotFoundError(f"explain_torch needs PyTorch ({missing}): pip install 'hadamard-min[torch]'") from None

from hadamard_min.explain.postprocess import gradient_heatmap, normalise_pixel_map, token_scores, token_z_scores
from hadamard_min.torch_graph import ScriptedRelus, scripted_relus
from hadamard_min.torch_model import RelusAsFunctions, check_model, model_of, refusing_training

_PATCHING = threading.RLock()  # held for a whole call (its patches); reentrant, so a nested call cannot hang


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

    Keeps y: [0 < y < u] = [0 < x < u]. In place, y is x itself: a model that reads x after an ``inplace``
    ReLU reads what it reads without the patch."""

    @staticmethod
    def forward(ctx, x, upper, inplace, current, seen=True):
        if inplace:
            y = x.clamp_(min=0, max=upper)
            ctx.mark_dirty(x)
        else:
            y = x.clamp(min=0, max=upper)
        ctx.save_for_backward(y)
        ctx.upper, ctx.current, ctx.seen = upper, current, seen
        return y

    @staticmethod
    def backward(ctx, dy):
        y, = ctx.saved_tensors
        open_interval = y > 0 if ctx.upper is None else (y > 0) & (y < ctx.upper)
        if ctx.current.guided and not ctx.seen:
            raise ValueError("V's gradient goes through a ReLU that is not an nn.ReLU module of relus (F.relu or "
                             "clamp(x, min=0) as a function, or a module outside relus): guided backprop would pass "
                             "its plain gradient there; make it an nn.ReLU module of relus, or pass guided=False")
        if ctx.current.guided:
            dy = dy.clamp(min=0)
        return dy * open_interval, None, None, None, None


def _rectifiers(model, guided):
    """The ``nn.ReLU`` and ``nn.ReLU6`` modules of ``model``, each with its upper bound u: none for plain
    gradients, at least one for guided backprop."""
    if not guided:
        return []
    found = []
    for name, module in (model.named_modules() if model is not None else ()):
        if isinstance(module, torch.jit.ScriptModule) and scripted_relus(module):  # no patch reaches them
            raise ValueError(f"relus' module {name or '(relus itself)'} is TorchScript (torch.jit.script or trace) "
                             f"and computes ReLUs that guided backprop cannot reach: pass the module itself, not "
                             f"its script, or pass guided=False")
        for kind, upper in ((torch.nn.ReLU, None), (torch.nn.ReLU6, 6.0)):
            if not isinstance(module, kind):
                continue
            if type(module).forward is not kind.forward:  # computes something else than min(max(x, 0), u)
                raise ValueError(f"relus' module {name or '(relus itself)'} ({type(module).__name__}) has a forward "
                                 f"of its own: guided backprop needs plain nn.{kind.__name__}s; pass guided=False")
            found.append((module, upper))
    if not found:
        raise ValueError("guided backprop found no nn.ReLU or nn.ReLU6 module in relus: pass the model that holds "
                         "them (relus=net), make functional ReLUs modules, or pass guided=False for plain gradients")
    return found


def _check_inputs(images, words):
    """images (B, C, H, W) and words (B, T, D): finite floating-point tensors of one batch, no axis empty."""
    for name, x, shape, kind in (("images", images, "(B, 3, H, W)", "images"),
                                 ("words", words, "(B, T, D)", "word vectors such as net.embedding(ids), not ids")):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            what = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"{name} must be a floating-point torch tensor {shape} of {kind} "
                            f"(torch.from_numpy(array) for an array), not {what}")
        if x.dim() != len(shape.split(",")) or x.numel() == 0:
            raise ValueError(f"{name} must be a tensor {shape} with no empty axis, not of shape {tuple(x.shape)}")
        if x.is_meta:  # no values to check or explain; torch.isfinite(x).all() failed in .item()
            raise ValueError(f"{name} are on the meta device and hold no values: pass tensors on a real device")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} hold NaN or infinite values: pass finite inputs")
    if images.shape[0] != words.shape[0]:
        raise ValueError(f"images and words must hold the same examples: {images.shape[0]} images, "
                         f"{words.shape[0]} questions")


def _lengths(lengths, batch, tokens):
    """Each question's number of real tokens: ``batch`` whole numbers in 1..T (None: T each)."""
    if lengths is None:
        return [tokens] * batch
    message = f"lengths must be {batch} whole numbers in 1..{tokens}, each question's real tokens"

    def whole(n):  # a Python, NumPy or torch integer; a bool is not a count
        if isinstance(n, (bool, numpy.bool_)) or getattr(n, "dtype", None) == torch.bool:
            raise TypeError(message)
        return operator.index(n)

    try:
        counts = [whole(n) for n in lengths]
    except TypeError:
        raise TypeError(f"{message}, not {lengths!r}") from None
    if len(counts) != batch or not all(1 <= n <= tokens for n in counts):
        raise ValueError(f"{message}, not {counts}")
    return counts


def _outputs(returned, batch):
    """Q, V, F from ``forward``'s result: a (Q, V, F, ...) tuple or list, or a mapping with keys "Q", "V", "F"."""
    try:
        Q, V, F = ((returned["Q"], returned["V"], returned["F"]) if hasattr(returned, "keys")
                   else returned[:3] if isinstance(returned, (tuple, list)) else ())
    except (KeyError, ValueError) as error:
        raise ValueError("forward must return (Q, V, F) or a mapping with keys 'Q', 'V' and 'F'") from error
    if not all(isinstance(x, torch.Tensor) and x.is_floating_point() for x in (Q, V, F)) \
            or not Q.shape == V.shape == F.shape or Q.dim() == 0 or len(Q) != batch:
        shapes = [tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__ for x in (Q, V, F)]
        raise ValueError(f"forward's Q, V and F must be floating-point tensors of one shape (B, d), B = {batch} "
                         f"as the inputs: F = Q ∘ V; got {shapes}")
    product, F = (Q * V).detach(), F.detach()
    if not (torch.isfinite(product).all() and torch.isfinite(F).all()):
        raise ValueError("forward's Q, V or F hold NaN or infinite values")
    # F computed another way (another dtype, a fused kernel) may differ from Q * V by rounding: √ε of the coarsest
    tolerance = max(torch.finfo(x.dtype).eps for x in (Q, V, F)) ** 0.5
    if not torch.allclose(F.to(product.dtype), product, rtol=tolerance, atol=tolerance * product.abs().max().item()):
        raise ValueError("forward's F must be the Hadamard product Q ∘ V (eq. 6) of the Q and V it returns")
    return Q, V, F


def _detached(returned):
    """``forward``'s result with every tensor in it detached, in tuples, lists and mappings at any depth."""
    if isinstance(returned, torch.Tensor):
        return returned.detach()
    if isinstance(returned, tuple):
        items = [_detached(x) for x in returned]
        return type(returned)(*items) if hasattr(returned, "_fields") else type(returned)(items)
    if isinstance(returned, (list, dict)):
        copy = returned.copy()
        for key in (range(len(copy)) if isinstance(copy, list) else copy.keys()):
            copy[key] = _detached(copy[key])
        return copy
    return returned


def _gradient(output, F, wrt, what, retain_graph):
    """∂/∂wrt ½‖output − F₀‖² (eq. 2-3); refused where output has no gradient path back to wrt. The graph is kept
    only for a pass still to come (``retain_graph``): afterwards the model's saved activations are let go."""
    grad = None
    if output.requires_grad:
        grad, = torch.autograd.grad(0.5 * ((output - F) ** 2).sum(), wrt, retain_graph=retain_graph,
                                    allow_unused=True)
    if grad is None:
        raise ValueError(f"forward's {what}: not detached, not under torch.no_grad")
    return grad


def _check_finite(grad_v, grad_q):
    """∇v and ∇q finite: else eq. 9-11 would be NaN throughout, as if explained."""
    for name, grad in (("∇v", grad_v), ("∇q", grad_q)):
        if not torch.isfinite(grad).all():
            raise ValueError(f"{name} holds NaN or infinite values: the model's gradient is not finite at these "
                             f"inputs (a float16 gradient beyond 65504, a sqrt or log at 0); try float32")


def explain_torch(forward, images, words, relus=None, lengths=None, guided=True):
    """∇v and ∇q (eq. 2-3, F held constant) and eq. 9-11 for a PyTorch model: a :class:`TorchExplanation`.

    ``forward(I, q)`` runs the model on images I (B, 3, H, W) and word vectors q (B, T, D) and returns a tuple
    (Q, V, F, ...) or a mapping with "Q", "V" and "F" (other entries are kept in ``outputs``), Q, V and F of one
    shape (B, d) and F = Q ∘ V. ``images`` and ``words``: finite floating-point tensors of the model's dtype,
    copied (``forward`` may change its copies in place). ``relus``: the model, the ``nn.Module`` whose
    ``nn.ReLU`` and ``nn.ReLU6`` modules pass guided backprop's rule in the ∇v pass (``guided=False``: plain
    gradients); None: ``forward`` itself where it is a module or one's method (``net.qvf``). It must be in eval
    mode. ``lengths``: each question's number of real tokens, B whole numbers in 1..T (default T): eq. 10-11
    score those only. Inside ``torch.no_grad`` or ``torch.inference_mode`` too. ``outputs`` holds ``forward``'s
    result detached.
    """
    if not callable(forward):
        raise TypeError(f"forward must be a function of (I, q) returning (Q, V, F), such as net.qvf or "
                        f"lambda I, q: net(I, q), not {type(forward).__name__}")
    _check_inputs(images, words)
    if not isinstance(guided, bool):
        raise TypeError(f"guided must be True or False, not {guided!r}")
    if relus is not None and not isinstance(relus, torch.nn.Module):
        raise TypeError(f"relus must be an nn.Module (the model) or None, not {type(relus).__name__}")
    batch, tokens = words.shape[:2]
    lengths = _lengths(lengths, batch, tokens)
    model = model_of(forward, relus)
    if model is not None:
        check_model(model, images, words)
    modules = _rectifiers(model, guided)        # plain gradients: the modules' own backward gives them
    with _PATCHING, torch.inference_mode(False), torch.enable_grad():
        I = images.detach().clone().requires_grad_(True)
        q = words.detach().clone().requires_grad_(True)
        current = _Pass()
        own = [module.__dict__.get("forward") for module, _ in modules]  # a forward set on the instance, if any
        for module, upper in modules:
            module.forward = lambda x, module=module, upper=upper: _Rectifier.apply(x, upper, module.inplace,
                                                                                     current)
        try:
            unseen = RelusAsFunctions(lambda x, upper, inplace: _Rectifier.apply(x, upper, inplace, current, False))
            with refusing_training(), unseen if guided else contextlib.nullcontext(), ScriptedRelus() as scripts:
                returned = forward(I.clone(), q.clone())  # not leaves: the model may change its input in place
            Q, V, F = _outputs(returned, batch)                            # F held constant: F₀
            grad_q = _gradient(Q, F, q, "Q must be computed from the word vectors q it is given", True)  # eq. 3
            current.guided = True
            if guided:  # training and F.relu refused above; TorchScript's ReLUs here
                scripts.refuse(V, I)
            grad_v = _gradient(V, F, I, "V must be computed from the images I it is given", False)  # eq. 2
        finally:
            for (module, _), forward_before in zip(modules, own):
                if forward_before is None:
                    del module.forward                                     # the class's forward again
                else:
                    module.forward = forward_before
    _check_finite(grad_v, grad_q)
    v, gq = (g.detach().cpu().to(torch.float64).numpy() for g in (grad_v, grad_q))  # eq. 9-11 in float64
    scores = [token_scores(gq[b, :n]) for b, n in enumerate(lengths)]                 # eq. 10
    return TorchExplanation(grad_v=grad_v, grad_q=grad_q,
                            pixel_map=numpy.stack([normalise_pixel_map(x) for x in v]),  # eq. 9
                            heatmap=numpy.stack([gradient_heatmap(x) for x in v]),
                            token_scores=scores, token_z=[token_z_scores(s) for s in scores],  # eq. 11
                            outputs=_detached(returned))
