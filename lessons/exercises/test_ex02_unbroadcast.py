"""Grades exercise 2: Add and Mul with broadcasting, against central differences."""
import numpy
from grading import check_gradient, load

SHAPES = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((3,), (2, 3)), ((2, 3), (2, 3))]


def grade(ex):
    rng = numpy.random.default_rng(2)
    for a_shape, b_shape in SHAPES:
        a, b = rng.uniform(0.5, 1.5, a_shape), rng.uniform(-1.5, -0.5, b_shape)
        for op in (ex.Add, ex.Mul):
            check_gradient(f"{op.__name__} of {a_shape} and {b_shape}", op.apply, a, b,
                           hint="an input reused along an axis gets the sum of dy over that axis")


def test_exercise_02():
    grade(load("ex02_unbroadcast"))
