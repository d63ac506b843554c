"""Grades exercise 5: col2im against the package's, then the convolution's backward against central
differences (stride 1 and 2, with padding, so windows overlap and reach into the padding)."""
import numpy
from grading import check_gradient, compare, load

from hadamard_min.ops import conv


def grade(ex):
    rng = numpy.random.default_rng(5)
    for stride, padding in ((1, 1), (2, 1), (1, 0)):
        x = rng.normal(size=(2, 2, 5, 5))
        out = conv.output_size(5, 3, stride, padding)
        dcols = rng.normal(size=(2, 2, 3, 3, out, out))
        compare(f"col2im (3×3, stride {stride}, padding {padding})",
                ex.col2im(dcols, x.shape, 3, 3, stride, padding),
                conv.col2im(dcols, x.shape, 3, 3, stride, padding),
                hint="a pixel read by several windows collects all of their entries: add (+=) each window's "
                     "grid at its strided slice of the padded input, then cut the padding off")
        check_gradient(f"Conv2d.backward (stride {stride}, padding {padding})",
                       lambda a, w, s=stride, p=padding: ex.Conv2d.apply(a, w, stride=s, padding=p),
                       x, rng.normal(size=(3, 2, 3, 3)))


def test_exercise_05():
    grade(load("ex05_conv_col2im"))
