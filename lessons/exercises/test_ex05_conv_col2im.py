"""Grades exercise 5: col2im against the package's, then the convolution's backward against central
differences, on cases Hypothesis draws: H ≠ W, kh ≠ kw, strides 1-3, padding 0-2, batches of 1-2."""
import numpy
from grading import cases, check_gradient, compare, left_alone, load, running
from hypothesis import strategies as st

from hadamard_min.ops import conv


@st.composite
def convolutions(draw):
    """(N, C, H, W, kh, kw, stride, padding) with at least one window."""
    kh, kw, padding = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, kh - 2 * padding), 6)), draw(st.integers(max(1, kw - 2 * padding), 6))
    return draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w, kh, kw, draw(st.integers(1, 3)), padding


def grade(ex):
    @cases(convolutions(), (2, 2, 5, 5, 3, 3, 1, 1), (1, 2, 4, 6, 2, 3, 1, 0), (2, 1, 5, 4, 3, 2, 2, 1))
    def check(case):
        n, c, h, w, kh, kw, stride, padding = case
        out_h, out_w = conv.output_size(h, kh, stride, padding), conv.output_size(w, kw, stride, padding)
        what = (f"col2im for x ({n}, {c}, {h}, {w}), kernel kh × kw = {kh} × {kw}, stride {stride}, padding "
                f"{padding} (Ho × Wo = {out_h} × {out_w})")
        rng = numpy.random.default_rng(5)
        dcols = rng.normal(size=(n, c, kh, kw, out_h, out_w))
        with left_alone(what, {"dcols": dcols}), running(what, "ex05 col2im"):
            got = ex.col2im(dcols, (n, c, h, w), kh, kw, stride, padding)
        compare(what + "; element = (n, c, row, column)", got, conv.col2im(dcols, (n, c, h, w), kh, kw, stride,
                                                                             padding), hint="ex05 col2im")
        check_gradient(f"Conv2d.backward (through your col2im) for x ({n}, {c}, {h}, {w}), weight (2, {c}, {kh}, "
                       f"{kw}), stride {stride}, padding {padding}",
                       lambda a, weight: ex.Conv2d.apply(a, weight, stride=stride, padding=padding),
                       rng.normal(size=(n, c, h, w)), rng.normal(size=(2, c, kh, kw)), names=("x", "weight"))
    check()


def test_exercise_05():
    grade(load("ex05_conv_col2im"))
