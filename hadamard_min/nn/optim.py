"""Adam and gradient clipping, written on the engine's arrays."""
import math

import numpy

from hadamard_min.core.backend import array_module
from hadamard_min.io.errors import WeightsError

MAX_STEPS = 2 ** 53  # the largest step count a checkpoint holds: every whole number up to it is exact in float64


class Adam:
    """Adam (Kingma & Ba 2015). For each parameter θ with gradient g, at step t:

        m ← β₁ m + (1 − β₁) g            (first moment)
        v ← β₂ v + (1 − β₂) g²           (second moment)
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   (bias correction)
        θ ← θ − lr · m̂ / (√v̂ + ε)
    """

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.parameters = list(parameters)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.t = 0
        self.m = [array_module(p.data).zeros_like(p.data) for p in self.parameters]
        self.v = [array_module(p.data).zeros_like(p.data) for p in self.parameters]

    def zero_grad(self):
        for p in self.parameters:
            p.grad = None

    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        for p, m, v in zip(self.parameters, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            xp = array_module(p.data)
            p.data -= (self.lr / correction1) * m / (xp.sqrt(v / correction2) + self.eps)

    def state(self):
        """Arrays to save for ``--resume``: the step count and both moments."""
        state = {"adam.t": self.t}
        state.update({f"adam.m.{i}": m for i, m in enumerate(self.m)})
        state.update({f"adam.v.{i}": v for i, v in enumerate(self.v)})
        return state

    def load_state(self, state, source="the checkpoint"):
        """The step count and both moments of ``state()``, each checked against the parameters first: t a
        whole number from 0 to 2**53 (saved again as an int64), each moment of its parameter's shape, finite,
        the second ones ≥ 0 and the first ones within Adam's reach of them (:meth:`_check_moments_agree`)."""
        names = {"adam.t"} | {f"adam.{k}.{i}" for k in "mv" for i in range(len(self.parameters))}
        if set(state) != names:
            raise AdamStateError(f"{source}: Adam's state does not fit this model (missing "
                                 f"{sorted(names - set(state))[:3]}, unexpected {sorted(set(state) - names)[:3]})")
        t = numpy.asarray(state["adam.t"])
        if t.shape != () or t.dtype.kind not in "iuf" or not numpy.isfinite(t) or not 0 <= t <= MAX_STEPS \
                or t != int(t):
            raise AdamStateError(f"{source}: Adam's step count is {t!r}, not a whole number from 0 to 2**53")
        for i, p in enumerate(self.parameters):
            for k in "mv":
                moment = numpy.asarray(state[f"adam.{k}.{i}"])
                if moment.shape != p.shape or moment.dtype.kind != "f" or not numpy.isfinite(moment).all() \
                        or (k == "v" and (moment < 0).any()):
                    raise AdamStateError(f"{source}: Adam's adam.{k}.{i} is not a finite {'non-negative ' * (k == 'v')}"
                                         f"array of its parameter's shape {p.shape} ({moment.dtype}{moment.shape})")
            self._check_moments_agree(state[f"adam.m.{i}"], state[f"adam.v.{i}"], f"{source}: Adam's adam.m.{i}")
        self.t = int(t)
        xp = array_module(self.parameters[0].data)
        self.m = [xp.array(state[f"adam.m.{i}"], dtype=p.dtype) for i, p in enumerate(self.parameters)]  # copies
        self.v = [xp.array(state[f"adam.v.{i}"], dtype=p.dtype) for i, p in enumerate(self.parameters)]

    def _check_moments_agree(self, m, v, what):
        """Refuse a first moment larger than Adam could have made it beside its second moment.

        From zero moments, m = (1 − β₁) Σ β₁ʲ g₋ⱼ and v = (1 − β₂) Σ β₂ʲ g₋ⱼ², so by Cauchy–Schwarz
        m² ≤ (1 − β₁)² / ((1 − β₂)(1 − β₁²/β₂)) · v (about 53 v for the default betas). Within that bound every
        step moves a weight by at most lr · √(bound · (1 − β₂ᵗ)) / (1 − β₁ᵗ); beyond it a crafted moment makes
        the weights infinite.
        """
        beta1, beta2 = self.betas
        if beta1 ** 2 >= beta2:
            return
        bound = (1 - beta1) ** 2 / ((1 - beta2) * (1 - beta1 ** 2 / beta2))
        reach = bound * numpy.asarray(v, numpy.float64) * 1.001 + 1e-30  # slack for float32's rounding and underflow
        excess = numpy.square(numpy.asarray(m, numpy.float64)) > reach
        if excess.any():
            raise AdamStateError(f"{what} holds {numpy.asarray(m)[excess][0]:.6g}, more than Adam's first moment "
                                 f"can reach beside its second (m² ≤ {bound:.3g} v); the checkpoint is corrupt: "
                                 f"start again without --resume")


class AdamStateError(WeightsError):
    """A checkpoint's optimizer state that does not fit the model or holds impossible values."""


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients by min(1, max_norm / ‖g‖₂) with ‖g‖ over every parameter; returns ‖g‖."""
    with_grad = [p for p in parameters if p.grad is not None]
    total = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in with_grad))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in with_grad:  # a new array: two leaves may share one gradient array
            p.grad = p.grad * scale
    return total
