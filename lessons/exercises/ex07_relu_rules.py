"""Exercise 7: ReLU's three backward rules, the switch on which the paper's ∇v turns.

    y = max(x, 0), and the forward keeps the mask [x > 0].

    "gradient":   dx = dy · [x > 0]             the true derivative
    "guided":     dx = dy · [x > 0] · [dy > 0]  guided backprop (Springenberg et al. 2015), eq. 2 of the paper
    "deconvnet":  dx = dy · [dy > 0]            Zeiler & Fergus 2014: blind to the forward input

Only the first is a derivative: the tests check it by central differences and the other two against the
package's ReLU under ``relu_rule(...)`` (their closed forms).

Check:  python -m pytest lessons/exercises/test_ex07_relu_rules.py
"""
from hadamard_min.core.function import Function


def relu_backward(dy, mask, rule):
    """dx for ``rule`` in ("gradient", "guided", "deconvnet"), from dy and the forward's mask [x > 0]."""
    raise NotImplementedError("exercise 7: relu_backward — gradient dy·[x > 0], guided dy·[x > 0]·[dy > 0], "
                              "deconvnet dy·[dy > 0]")


class ReLU(Function):
    """y = max(x, 0); the backward rule is ``self.rule`` (``ReLU.apply(x, rule="guided")``)."""

    def forward(self, x):
        mask = x > 0
        self.save(mask)
        return x * mask

    def backward(self, dy):
        return (relu_backward(dy, self.saved[0], self.rule),)
