"""Exercise 7: ReLU's three backward rules, the switch on which the paper's ∇v turns.

y = max(x, 0), elementwise, any shape; the forward keeps the boolean mask [x > 0] (the shape of x).
Write ``relu_backward(dy, mask, rule)`` → dx (the shape of dy) for three rules:

    "gradient"    the true derivative of ReLU
    "guided"      guided backpropagation (Springenberg et al. 2015), the rule eq. 2's ∇v is computed with
    "deconvnet"   the deconvnet's rule (Zeiler & Fergus 2014)

Lesson 03 states the three and shows what each draws. Only the first is a derivative: the grader checks it
by central differences and the other two against the package's ReLU under ``relu_rule(...)``.

Check:  hadamard-exercises grade 7      (in the folder made by ``hadamard-exercises start DIR``)
"""
from hadamard_min.core.function import Function


def relu_backward(dy, mask, rule):
    """dx for ``rule`` in ("gradient", "guided", "deconvnet"), from dy and the forward's mask [x > 0]."""
    raise NotImplementedError("exercise 7: write relu_backward: dx from dy and the forward's mask [x > 0], for the "
                              "rule 'gradient', 'guided' or 'deconvnet'")


class ReLU(Function):
    """y = max(x, 0); the backward rule is ``self.rule`` (``ReLU.apply(x, rule="guided")``)."""

    def forward(self, x):
        mask = x > 0
        self.save(mask)
        return x * mask

    def backward(self, dy):
        return (relu_backward(dy, self.saved[0], self.rule),)
