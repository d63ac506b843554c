"""Grades exercise 4: MatMul backward against central differences, plain, batched and broadcast."""
import numpy
from grading import check_gradient, load


def grade(ex):
    rng = numpy.random.default_rng(4)
    for a_shape, b_shape in (((2, 3), (3, 4)), ((2, 2, 3), (2, 3, 4)), ((2, 2, 3), (3, 4))):
        check_gradient(f"MatMul.backward of {a_shape} @ {b_shape}", ex.MatMul.apply, rng.normal(size=a_shape),
                       rng.normal(size=b_shape), hint="∂L/∂a = dy @ bᵀ and ∂L/∂b = aᵀ @ dy (ᵀ: swap the last "
                                                      "two axes); the shapes tell which side each goes on")


def test_exercise_04():
    grade(load("ex04_matmul"))
