"""Adam and gradient clipping, written on the engine's arrays."""
import math

from hadamard_min.core.backend import array_module


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

    def load_state(self, state):
        self.t = int(state["adam.t"])
        xp = array_module(self.parameters[0].data)
        self.m = [xp.array(state[f"adam.m.{i}"]) for i in range(len(self.parameters))]  # copies: updated in place
        self.v = [xp.array(state[f"adam.v.{i}"]) for i in range(len(self.parameters))]


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients by min(1, max_norm / ‖g‖₂) with ‖g‖ over every parameter; returns ‖g‖."""
    with_grad = [p for p in parameters if p.grad is not None]
    total = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in with_grad))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in with_grad:  # a new array: two leaves may share one gradient array
            p.grad = p.grad * scale
    return total
