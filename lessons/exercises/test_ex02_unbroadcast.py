"""Grades exercise 2: Add and Mul against central differences, on pairs of shapes Hypothesis draws that
broadcast on either side and over several leading axes."""
import numpy
from grading import cases, check_gradient, load
from hypothesis.extra.numpy import mutually_broadcastable_shapes

PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=4, min_side=1, max_side=3)


def grade(ex):
    @cases(PAIRS.map(lambda drawn: drawn.input_shapes), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((3,), (2, 2, 3)))
    def check(shapes):
        a_shape, b_shape = shapes
        rng = numpy.random.default_rng(2)
        a, b = rng.uniform(0.5, 1.5, a_shape), rng.uniform(-1.5, -0.5, b_shape)
        for op in (ex.Add, ex.Mul):
            check_gradient(f"{op.__name__} of a {a_shape} and b {b_shape}", op.apply, a, b, names=("a", "b"),
                           hint="ex02 unbroadcast")
    check()


def test_exercise_02():
    grade(load("ex02_unbroadcast"))
