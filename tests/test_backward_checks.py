"""What a backward returns is checked by the walk, and a failed gradient check says where and why.

A mistake in a new op must be named where it is made: the op, the input, the shapes (``GradientCountError``,
``GradientShapeError``); a failed ``gradcheck`` shows the analytic and numeric values and the input at the
worst element, and says when that input sits on a kink or a tie.
"""
import numpy
import pytest

from hadamard_min import ops
from hadamard_min.core.function import Function
from hadamard_min.core.gradcheck import GradcheckArgumentError, GradcheckError, gradcheck
from hadamard_min.core.tensor import (
    BackwardError,
    GradientCountError,
    GradientShapeError,
    Tensor,
    checked_gradients,
)


def leaf(shape, rng):
    return Tensor(rng.uniform(0.5, 1.5, shape), requires_grad=True)


class BareArray(Function):
    """y = 2x with a backward that returns the array itself instead of a one-element tuple."""

    def forward(self, x):
        return 2 * x

    def backward(self, dy):
        return 2 * dy


class Mul(Function):
    """y = a ∘ b with a backward that forgets the second gradient."""

    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, dy):
        return (dy * self.saved[1],)


class Add(Function):
    """y = a + b with a backward that forgets to sum over the broadcast axes."""

    def forward(self, a, b):
        return a + b

    def backward(self, dy):
        return dy, dy


class Flatten(Function):
    """y = x.reshape(-1) with a backward that does not reshape back."""

    def forward(self, x):
        return x.reshape(-1)

    def backward(self, dy):
        return (dy,)


def test_a_bare_array_is_refused_not_zipped(rng):
    x = leaf((4,), rng)
    with pytest.raises(GradientCountError, match=r"BareArray.backward returned an array of shape \(4,\), "
                                                 r"not a tuple .* `return \(dx,\)`"):
        BareArray.apply(x).sum().backward()


class TensorGradient(Function):
    """y = 2x with a backward written with the engine's ops: it returns a Tensor, not an array."""

    def forward(self, x):
        return 2 * x

    def backward(self, dy):
        return (ops.mul(Tensor(dy), 2.0),)


def test_a_tensor_gradient_is_named_not_met_inside_the_walk(rng):
    """It has the right shape: the walk took it and failed in its own line ('Tensor' has no attribute 'copy')."""
    with pytest.raises(GradientShapeError, match=r"^TensorGradient.backward: gradient for input 0 is a Tensor, "
                                                 r"not an array .*return its \.data"):
        TensorGradient.apply(leaf((3,), rng)).sum().backward()


class DyInPlace(Function):
    """y = 2x with a backward that doubles dy in place: the caller's array, or another input's gradient."""

    def forward(self, x):
        return 2 * x

    def backward(self, dy):
        dy *= 2
        return (dy,)


def test_gradcheck_refuses_a_backward_that_changes_dy_in_place(rng):
    """gradcheck's cotangent is read-only for backward: the change once passed where it cancelled in L."""
    with pytest.raises(ValueError, match="read-only"):
        gradcheck(DyInPlace.apply, rng.normal(size=3))


def test_a_missing_gradient_names_the_op_and_the_counts(rng):
    a, b = leaf((3,), rng), leaf((3,), rng)
    with pytest.raises(GradientCountError, match=r"^Mul\.backward returned 1 gradient for 2 inputs$"):
        Mul.apply(a, b).sum().backward()


def test_a_missing_unbroadcast_names_the_input_and_both_shapes(rng):
    a, b = leaf((3, 4), rng), leaf((4,), rng)
    message = r"^Add.backward: gradient for input 1 has shape \(3, 4\), the input has shape \(4,\)  " \
              r"\(sum over broadcast axes\?\)$"
    with pytest.raises(GradientShapeError, match=message):
        Add.apply(a, b).sum().backward()
    with pytest.raises(GradientShapeError, match="sum over broadcast axes"):  # gradcheck shows the same error
        gradcheck(Add.apply, a.data, b.data)


def test_a_gradient_of_the_right_size_but_wrong_shape_hints_at_reshape(rng):
    with pytest.raises(GradientShapeError, match=r"has shape \(6,\), the input has shape \(2, 3\)  "
                                                 r"\(reshape or transpose"):
        Flatten.apply(leaf((2, 3), rng)).sum().backward()


class CastGradient(Function):
    """y = 2x with a backward that casts its gradient to ``self.dtype``: to int every |dx| < 1 rounds to 0, to
    float32 (for a float64 input) half the digits go, yet within a loose tolerance the values still agree."""

    def forward(self, x):
        return 2 * x

    def backward(self, dy):
        return ((2 * dy).astype(self.dtype),)


class MaskGradient(Function):
    """y = relu(x) with a backward that returns the mask [x > 0], not dy times it."""

    def forward(self, x):
        return x * (x > 0)

    def backward(self, dy):
        return (dy > -numpy.inf,)


def test_an_integer_gradient_of_a_float_input_is_named_not_read_as_zeros(rng):
    with pytest.raises(GradientShapeError, match=r"^CastGradient.backward: gradient for input 0 has dtype int64, "
                                                 r"the input is floating point .*astype\(int\)"):
        CastGradient.apply(leaf((3,), rng), dtype=int).backward(numpy.full(3, 0.25))
    with pytest.raises(GradientShapeError, match=r"has dtype bool, .*a mask itself\? multiply dy by it"):
        MaskGradient.apply(leaf((3,), rng)).backward(numpy.full(3, 0.25))


def test_a_narrower_float_gradient_is_refused_a_wider_one_is_not(rng):
    """float32 for a float64 input rounds the gradient (an exercise answer once passed so: rtol 1e-7 let it);
    float64 for a float32 input (a float32 weight times a float64 input) loses nothing."""
    with pytest.raises(GradientShapeError, match=r"^CastGradient.backward: gradient for input 0 has dtype float32, "
                                                 r"the input is float64 .*astype\(numpy.float32\)"):
        CastGradient.apply(leaf((3,), rng), dtype=numpy.float32).backward()
    x = Tensor(rng.uniform(size=3).astype(numpy.float32), requires_grad=True)
    CastGradient.apply(x, dtype=numpy.float64).backward()
    assert x.grad.dtype == numpy.float64 and numpy.allclose(x.grad, 2)


def test_shape_errors_are_backward_errors_and_the_seed_is_checked_too(rng):
    assert issubclass(GradientShapeError, BackwardError) and issubclass(GradientCountError, BackwardError)
    with pytest.raises(GradientShapeError, match=r"grad has shape \(2,\), the tensor has shape \(3,\)"):
        (leaf((3,), rng) * 2).backward(numpy.ones(2))


def test_trailing_nones_are_allowed_for_optional_inputs(rng):
    """Conv2d and Linear return (dx, dW, None) when called without a bias: that is not a mistake."""
    x, w = leaf((1, 2, 5, 5), rng), leaf((3, 2, 3, 3), rng)
    ops.conv2d(x, w, padding=1).sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape


class ShapeOnly:
    """An 'array' with a shape and a dtype and nothing else: the check must not read any data."""

    def __init__(self, shape):
        self.shape, self.dtype = shape, numpy.dtype(numpy.float64)


def test_the_check_compares_shapes_only(rng):
    fn = Mul()
    fn.inputs = [leaf((2, 3), rng).node, leaf((3,), rng).node]
    dxs = (ShapeOnly((2, 3)), ShapeOnly((3,)))
    assert checked_gradients(fn, dxs) is dxs


class HalfSquare(Function):
    """y = x² with a backward that forgets the factor 2."""

    def forward(self, x):
        self.save(x)
        return x * x

    def backward(self, dy):
        return (dy * self.saved[0],)


def test_a_failed_check_shows_analytic_numeric_and_the_input_at_the_worst_element(rng):
    x = rng.uniform(0.5, 2.0, (3, 2))
    report = gradcheck(HalfSquare.apply, x, raise_on_failure=False)
    check = report.checks[0]
    index = tuple(int(v) for v in check.worst.removeprefix("element (").rstrip(")").split(","))
    assert check.value == x[index]
    assert check.numeric == pytest.approx(2 * check.analytic, rel=1e-6)   # the missing factor 2, at that element
    assert not check.kink
    assert f"analytic {check.analytic:.6g}, numeric {check.numeric:.6g}, the input there is {x[index]:.6g}" \
        in str(report)


@pytest.mark.parametrize("case", ["relu at 0", "max-pool tie"])
def test_a_failed_check_at_a_kink_or_a_tie_says_so(case):
    if case == "relu at 0":
        fn, x = ops.relu, numpy.array([0.3, 0.0, -0.5])
    else:
        fn, x = (lambda t: ops.max_pool2d(t, 2)), numpy.array([[[[0.7, 0.7], [0.1, -0.2]]]])
    with pytest.raises(GradcheckError, match="within h = 1e-06 of a kink or a tie") as error:
        gradcheck(fn, x)
    assert "one-sided slopes differ" in str(error.value)
    away = numpy.array([0.3, 0.2, -0.5]) if case == "relu at 0" else numpy.array([[[[0.7, 0.6], [0.1, -0.2]]]])
    assert gradcheck(fn, away).passed


@pytest.mark.parametrize("call, words", [
    (lambda: gradcheck(lambda x: x * x), "one or more arrays or Tensors"),
    (lambda: gradcheck(lambda x: x * x, [1.0, 2.0]), r"numpy.array\(\[...\]\) makes one of a list"),
    (lambda: gradcheck(lambda x: x * x, numpy.ones(2), eps=0), "eps must be a finite number > 0"),
    (lambda: gradcheck(lambda x: x * x, numpy.ones(2), rtol=float("nan")), "rtol must be a finite number >= 0"),
    (lambda: gradcheck(lambda x: x * x, numpy.ones(2), projections=0), "projections must be a whole number >= 1"),
    (lambda: gradcheck(lambda x: x * x, numpy.ones(2, dtype=int)), "no input is floating point"),
    (lambda: gradcheck("x * x", numpy.ones(2)), "fn must be a function of the inputs, not str"),
    (lambda: gradcheck(lambda x: x.data * 2, numpy.ones(2)), "fn must return a Tensor .* not ndarray"),
])
def test_gradcheck_says_what_it_cannot_check(call, words):
    with pytest.raises(GradcheckArgumentError, match=words):
        call()
