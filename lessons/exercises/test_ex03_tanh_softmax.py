"""Grades exercise 3: tanh and softmax backward against central differences."""
import numpy
from grading import check_gradient, load


def grade(ex):
    rng = numpy.random.default_rng(3)
    check_gradient("Tanh.backward", ex.Tanh.apply, rng.normal(size=(3, 4)),
                   hint="dx = dy · (1 − y²), with the saved output y")
    for axis, shape in ((-1, (3, 5)), (0, (4, 3)), (1, (2, 6, 2))):
        check_gradient(f"Softmax.backward along axis {axis} of {shape}", lambda x, axis=axis: ex.Softmax.apply(
            x, axis=axis), rng.normal(size=shape) * 2, hint="dx = y ∘ (dy − Σ_axis dy ∘ y): sum along the "
                                                             "softmax's own axis, with keepdims=True")


def test_exercise_03():
    grade(load("ex03_tanh_softmax"))
