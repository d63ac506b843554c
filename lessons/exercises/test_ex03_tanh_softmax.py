"""Grades exercise 3: tanh and softmax backward against central differences, on shapes (and softmax axes,
negative ones too) that Hypothesis draws."""
import numpy
from grading import cases, check_gradient, load
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

SHAPES = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@st.composite
def shape_and_axis(draw):
    shape = draw(SHAPES)
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


def grade(ex):
    @cases(SHAPES, (3, 4))
    def check_tanh(shape):
        x = numpy.random.default_rng(3).normal(size=shape)
        check_gradient(f"Tanh.backward on x {shape}", ex.Tanh.apply, x,
                       hint="ex03 tanh")

    @cases(shape_and_axis(), ((3, 5), -1), ((4, 3), 0), ((2, 6, 2), 1))
    def check_softmax(case):
        shape, axis = case
        x = numpy.random.default_rng(3).normal(size=shape) * 2
        check_gradient(f"Softmax.backward along axis {axis} of x {shape}",
                       lambda t: ex.Softmax.apply(t, axis=axis), x,
                       hint="ex03 softmax")
    check_tanh()
    check_softmax()


def test_exercise_03():
    grade(load("ex03_tanh_softmax"))
