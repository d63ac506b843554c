"""Grades exercise 7: the gradient rule by central differences, guided and deconvnet against the package,
on shapes Hypothesis draws, with x and dy of both signs (away from the kink at 0)."""
import numpy
from grading import cases, check_gradient, compare, left_alone, load, running
from hypothesis.extra.numpy import array_shapes

from hadamard_min import Tensor, ops, relu_rule


def signed(rng, shape):
    return rng.choice([-1, 1], size=shape) * rng.uniform(0.1, 1.0, shape)


def grade(ex):
    @cases(array_shapes(min_dims=1, max_dims=4, max_side=4), (4, 5))
    def check(shape):
        rng = numpy.random.default_rng(7)
        x, dy = signed(rng, shape), signed(rng, shape)
        check_gradient(f"relu_backward, rule 'gradient', on x {shape}", lambda t: ex.ReLU.apply(t, rule="gradient"),
                       x, names=("x",), hint="ex07 gradient")
        for rule in ("guided", "deconvnet"):
            ours = Tensor(x, requires_grad=True)
            with running(f"relu_backward, rule {rule!r}, on x {shape}", f"ex07 {rule}"):
                y = ex.ReLU.apply(ours, rule=rule)
            # another branch may hold dy too; a second pass (retain_graph=True, ex. 10) reads the mask again
            with running(f"relu_backward, rule {rule!r}, on x {shape}", f"ex07 {rule}"), \
                    left_alone(f"relu_backward, rule {rule!r},", {"dy": dy, "mask": y.creator.saved[0]}):
                y.backward(dy)
            package = Tensor(x, requires_grad=True)
            with relu_rule(rule):
                ops.relu(package).backward(dy)
            compare(f"relu_backward, rule {rule!r}, on x {shape}", ours.grad, package.grad, hint=f"ex07 {rule}",
                    context={"x": x, "dy": dy})
    check()


def test_exercise_07():
    grade(load("ex07_relu_rules"))
