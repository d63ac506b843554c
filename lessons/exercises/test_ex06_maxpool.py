"""Grades exercise 6: max-pool backward against central differences, on inputs without ties and cases
Hypothesis draws: H ≠ W, kernels 1-3, strides 1-3 (overlapping windows when s < k), padding up to k // 2."""
import numpy
from grading import cases, check_gradient, load
from hypothesis import strategies as st


@st.composite
def poolings(draw):
    """(N, C, H, W, kernel, stride, padding) with padding ≤ kernel // 2 and at least one window."""
    k = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k // 2))
    h, w = draw(st.integers(max(1, k - 2 * padding), 7)), draw(st.integers(max(1, k - 2 * padding), 7))
    return draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w, k, draw(st.integers(1, 3)), padding


def grade(ex):
    @cases(poolings(), (2, 2, 6, 6, 2, 2, 0), (1, 2, 5, 7, 3, 2, 1), (2, 1, 6, 4, 3, 1, 1))
    def check(case):
        n, c, h, w, k, s, p = case
        x = numpy.random.default_rng(6).permutation(n * c * h * w).reshape(n, c, h, w) / 10.0   # no ties
        check_gradient(f"MaxPool2d.backward for x ({n}, {c}, {h}, {w}), kernel {k}, stride {s}, padding {p}",
                       lambda t: ex.MaxPool2d.apply(t, kernel=k, stride=s, padding=p), x, names=("x",),
                       hint="ex06 maxpool")
    check()


def test_exercise_06():
    grade(load("ex06_maxpool"))
