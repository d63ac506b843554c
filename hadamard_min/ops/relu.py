"""ReLU (and ReLU6) and its three backward rules: the op on which guided backpropagation, and so the
paper's ∇v, turns.

    y = max(x, 0)

    gradient:  dx = dy · [x > 0]            the true derivative
    guided:    dx = dy · [x > 0] · [dy > 0] guided backprop (Springenberg et al. 2015): only positive
                                            signals pass, and only where the input was positive
    deconvnet: dx = dy · [dy > 0]           Zeiler & Fergus 2014: blind to the forward input

ReLU6, y = min(max(x, 0), 6), has the same three rules with the mask [0 < x < 6] for [x > 0]
(deconvnet is again blind to x).

Only the gradient rule is a derivative; the other two are rules for pushing a signal back, so finite
differences can check the first and the tests check the others against these closed forms.
A ``relu_rule(...)`` block chooses the rule: around forward (the ReLU records it) or around backward
(it wins over the recorded one), so one forward graph can be walked back with different rules.
"""
import contextlib
import threading

from hadamard_min.core.function import Function

RULES = ("gradient", "guided", "deconvnet")
_thread = threading.local()  # .rule: the relu_rule block around this thread's current call (None: none)


@contextlib.contextmanager
def relu_rule(rule):
    """Choose the backward rule of every ReLU run (forward or backward) inside this block, in this thread
    (a block in one thread does not reach an explanation another thread computes meanwhile)."""
    if rule not in RULES:
        raise ValueError(f"ReLU rule must be 'gradient', 'guided' or 'deconvnet', not {rule!r}")
    previous, _thread.rule = _block_rule(), rule
    try:
        yield
    finally:
        _thread.rule = previous


def _block_rule():
    return getattr(_thread, "rule", None)


def guided_backprop():
    """ReLUs pass back ``dx = dy * [x > 0] * [dy > 0]`` (Springenberg et al. 2015)."""
    return relu_rule("guided")


def deconvnet():
    """ReLUs pass back ``dx = dy * [dy > 0]`` (Zeiler & Fergus 2014)."""
    return relu_rule("deconvnet")


def current_relu_rule():
    """The rule a ReLU run now records: that of the enclosing block, ``"gradient"`` outside any."""
    return _block_rule() or "gradient"


def rule_for_backward(recorded):
    """The rule a backward pass uses: that of a block around it, else the one recorded at forward."""
    return _block_rule() or recorded


class ReLU(Function):
    """y = max(x, 0); backward by the rule of the enclosing ``relu_rule`` block (see the module's docstring).

    Only the mask [x > 0] is kept for backward: one byte per element.
    """

    def forward(self, x):
        self.rule = current_relu_rule()
        mask = x > 0
        self.save(mask)
        return x * mask

    def backward(self, dy):
        (mask,) = self.saved
        rule = rule_for_backward(self.rule)
        if rule == "gradient":
            return (dy * mask,)
        if rule == "guided":
            return (dy * (mask & (dy > 0)),)
        return (dy * (dy > 0),)


class ReLU6(ReLU):
    """y = min(max(x, 0), 6), the activation of mobile networks; ReLU's backward with the mask [0 < x < 6]:

    gradient dx = dy · [0 < x < 6];  guided dx = dy · [0 < x < 6] · [dy > 0];  deconvnet dx = dy · [dy > 0].
    """

    def forward(self, x):
        self.rule = current_relu_rule()
        mask = (x > 0) & (x < 6)
        self.save(mask)
        return x.clip(0, 6)
