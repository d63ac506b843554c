"""Grades exercise 7: the gradient rule by central differences, guided and deconvnet against the package."""
import numpy
from grading import check_gradient, compare, load

from hadamard_min import Tensor, ops, relu_rule

HINTS = {"gradient": "the derivative passes dy where x > 0 and 0 elsewhere",
         "guided": "guided passes dy only where x > 0 AND dy > 0",
         "deconvnet": "deconvnet passes dy where dy > 0, whatever x was"}


def grade(ex):
    rng = numpy.random.default_rng(7)
    x = rng.choice([-1, 1], size=(4, 5)) * rng.uniform(0.1, 1.0, (4, 5))   # away from the kink at 0
    check_gradient("relu_backward, rule 'gradient'", lambda t: ex.ReLU.apply(t, rule="gradient"), x,
                   hint=HINTS["gradient"])
    dy = rng.choice([-1, 1], size=(4, 5)) * rng.uniform(0.1, 1.0, (4, 5))
    for rule in ("guided", "deconvnet"):
        ours = Tensor(x, requires_grad=True)
        ex.ReLU.apply(ours, rule=rule).backward(dy)
        package = Tensor(x, requires_grad=True)
        with relu_rule(rule):
            ops.relu(package).backward(dy)
        compare(f"relu_backward, rule {rule!r}", ours.grad, package.grad, hint=HINTS[rule],
                context={"x": x, "dy": dy})


def test_exercise_07():
    grade(load("ex07_relu_rules"))
