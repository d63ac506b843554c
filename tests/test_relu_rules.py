"""The three backward rules of ReLU, checked against their closed forms.

Guided backprop and deconvnet are not gradients, so finite differences cannot check them:

    gradient:  dx = dy · [x > 0]
    guided:    dx = dy · [x > 0] · [dy > 0]
    deconvnet: dx = dy · [dy > 0]
"""
import contextlib

import numpy
import pytest

from hadamard_min import deconvnet, guided_backprop, ops, relu_rule
from hadamard_min.core.tensor import Tensor
from hadamard_min.ops.relu import current_relu_rule

RULES = {
    "gradient": lambda x, dy: dy * (x > 0),
    "guided": lambda x, dy: dy * (x > 0) * (dy > 0),
    "deconvnet": lambda x, dy: dy * (dy > 0),
}


def signed(rng, *shape):
    return rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def relu_backward(x_data, dy, forward_rule=None, backward_rule=None):
    """x.grad after y = relu(x) run under ``forward_rule`` and y.backward(dy) under ``backward_rule``."""
    x = Tensor(x_data, requires_grad=True)
    with relu_rule(forward_rule) if forward_rule else contextlib.nullcontext():
        y = ops.relu(x)
    with relu_rule(backward_rule) if backward_rule else contextlib.nullcontext():
        y.backward(dy)
    return x.grad


@pytest.fixture
def x_and_dy(rng):
    """x and dy with every sign combination present (so the three rules give three answers)."""
    x, dy = signed(rng, 6, 7), signed(rng, 6, 7)
    for sx in (-1, 1):
        for sd in (-1, 1):
            assert numpy.any((numpy.sign(x) == sx) & (numpy.sign(dy) == sd))
    return x, dy


@pytest.mark.parametrize("rule", list(RULES))
def test_rule_matches_closed_form_exactly(rule, x_and_dy):
    x, dy = x_and_dy
    got = relu_backward(x, dy, forward_rule=rule)
    numpy.testing.assert_array_equal(got, RULES[rule](x, dy))
    others = [r for r in RULES if r != rule]
    assert all(not numpy.array_equal(got, RULES[r](x, dy)) for r in others)


def test_the_context_managers_choose_the_rules(x_and_dy):
    x, dy = x_and_dy
    for context, rule in ((guided_backprop, "guided"), (deconvnet, "deconvnet")):
        t = Tensor(x, requires_grad=True)
        with context():
            ops.relu(t).backward(dy)
        numpy.testing.assert_array_equal(t.grad, RULES[rule](x, dy))


def test_forward_time_rule_is_kept_and_a_backward_block_overrides(x_and_dy):
    x, dy = x_and_dy
    cases = [("guided", None, "guided"), (None, "deconvnet", "deconvnet"),
             ("guided", "gradient", "gradient"), ("deconvnet", "guided", "guided")]
    for forward_rule, backward_rule, expected in cases:
        got = relu_backward(x, dy, forward_rule, backward_rule)
        numpy.testing.assert_array_equal(got, RULES[expected](x, dy))


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_rule_applies_to_every_relu_in_a_chain(rule, rng):
    """x → relu → ·W₁ → relu → ·W₂ → relu, backward by hand with the rule at each ReLU."""
    x = signed(rng, 4, 5)
    w1, w2 = signed(rng, 5, 6), signed(rng, 6, 3)
    dy = signed(rng, 4, 3)
    step = RULES[rule]

    z1 = x
    z2 = numpy.maximum(z1, 0) @ w1
    z3 = numpy.maximum(z2, 0) @ w2
    g = step(z3, dy)
    g = step(z2, g @ w2.T)
    expected = step(z1, g @ w1.T)

    xt = Tensor(x, requires_grad=True)
    with relu_rule(rule):
        out = ops.relu(ops.relu(ops.relu(xt) @ Tensor(w1)) @ Tensor(w2))
    numpy.testing.assert_allclose(out.data, numpy.maximum(z3, 0), rtol=1e-14)
    out.backward(dy)
    numpy.testing.assert_allclose(xt.grad, expected, rtol=1e-12, atol=1e-15)

    plain = Tensor(x, requires_grad=True)
    ops.relu(ops.relu(ops.relu(plain) @ Tensor(w1)) @ Tensor(w2)).backward(dy)
    assert not numpy.allclose(plain.grad, expected)  # the rule really changed something


def test_contexts_nest_and_restore():
    assert current_relu_rule() == "gradient"
    with guided_backprop():
        assert current_relu_rule() == "guided"
        with deconvnet():
            assert current_relu_rule() == "deconvnet"
            with relu_rule("gradient"):
                assert current_relu_rule() == "gradient"
            assert current_relu_rule() == "deconvnet"
        assert current_relu_rule() == "guided"
    assert current_relu_rule() == "gradient"


def test_context_restores_after_an_exception():
    with pytest.raises(KeyError), guided_backprop():
        raise KeyError("inside")
    assert current_relu_rule() == "gradient"


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="guided"), relu_rule("smooth"):
        pass
