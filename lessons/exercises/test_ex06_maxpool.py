"""Grades exercise 6: max-pool backward against central differences, on inputs without ties."""
import numpy
from grading import check_gradient, load


def grade(ex):
    rng = numpy.random.default_rng(6)
    for kernel, stride, padding in ((2, 2, 0), (3, 2, 1), (3, 1, 1)):
        x = rng.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6) / 10.0   # distinct values: no ties
        check_gradient(f"MaxPool2d.backward (kernel {kernel}, stride {stride}, padding {padding})",
                       lambda t, k=kernel, s=stride, p=padding: ex.MaxPool2d.apply(t, kernel=k, stride=s,
                                                                                    padding=p), x,
                       hint="each dy goes to its window's winner only; a pixel that wins several overlapping "
                            "windows collects all of them (+=)")


def test_exercise_06():
    grade(load("ex06_maxpool"))
