"""Grades exercise 4: MatMul backward against central differences, on shapes Hypothesis draws: n, k, m
apart, batch axes on either side, broadcast over one or several of them."""
import numpy
from grading import cases, check_gradient, load
from hypothesis.extra.numpy import mutually_broadcastable_shapes

PAIRS = mutually_broadcastable_shapes(signature="(n,k),(k,m)->(n,m)", max_dims=2, min_side=1, max_side=3)


def grade(ex):
    @cases(PAIRS.map(lambda drawn: drawn.input_shapes), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)), ((3, 2), (2, 2, 4)),
           ((2, 1, 2, 3), (3, 3, 2)))
    def check(shapes):
        a_shape, b_shape = shapes
        rng = numpy.random.default_rng(4)
        check_gradient(f"MatMul.backward of a {a_shape} @ b {b_shape}", ex.MatMul.apply, rng.normal(size=a_shape),
                       rng.normal(size=b_shape), names=("a", "b"),
                       hint="ex04 matmul")
    check()


def test_exercise_04():
    grade(load("ex04_matmul"))
