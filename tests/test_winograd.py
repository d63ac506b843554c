"""Winograd F(2×2, 3×3), the fast path's 3×3 convolution: against the reference op (im2col), central differences."""
import numpy
import pytest

from hadamard_min import Tensor, ops
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.fast import winograd
from hadamard_min.ops.conv import im2col

SHAPES = [(1, 3, 4, 6, 6), (2, 2, 3, 5, 7), (1, 4, 2, 1, 1), (2, 1, 1, 2, 3), (1, 5, 6, 9, 4)]


def im2col_conv(x, weight):
    n, c, h, w = x.shape
    cols = im2col(x, 3, 3, 1, 1, h, w).reshape(n, c * 9, h * w)
    return (weight.reshape(len(weight), -1) @ cols).reshape(n, len(weight), h, w)


def winograd_conv(x, weight, bias=None):
    return winograd.WinogradConv2d.apply(x, u=winograd.filters(weight), bias=bias)


@pytest.mark.parametrize("shape", SHAPES)
def test_winograd_convolution_equals_the_reference_op(rng, shape):
    n, c, o, h, w = shape
    x = rng.standard_normal((n, c, w, h)).transpose(0, 1, 3, 2)  # a non-contiguous input
    weight, bias = rng.standard_normal((o, c, 3, 3)), rng.standard_normal(o)
    y = winograd_conv(Tensor(x, requires_grad=True), weight, bias)
    reference = ops.conv2d(Tensor(x), Tensor(weight), Tensor(bias), stride=1, padding=1)
    numpy.testing.assert_allclose(y.data, reference.data, rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(y.data, im2col_conv(x, weight) + bias.reshape(1, o, 1, 1), rtol=1e-12,
                                  atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_winograd_input_gradient_against_central_differences(rng, shape):
    n, c, o, h, w = shape
    weight = rng.standard_normal((o, c, 3, 3))
    gradcheck(lambda x: winograd_conv(x, weight), rng.standard_normal((n, c, h, w)))


def test_winograd_input_gradient_equals_the_reference_one(rng):
    x, weight = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 7, 6))
    grads = []
    for fast in (True, False):
        xt = Tensor(x, requires_grad=True)
        y = winograd_conv(xt, weight) if fast else ops.conv2d(xt, Tensor(weight), stride=1, padding=1)
        y.backward(dy)
        grads.append(xt.grad)
    numpy.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES[:2])
def test_winograd_in_float32_is_as_close_to_float64_as_the_reference(rng, shape):
    """float32 Winograd against the float64 convolution: within a small multiple of the reference's own error."""
    n, c, o, h, w = shape
    x, weight = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, 3, 3))
    exact = im2col_conv(x, weight)
    x32, w32 = x.astype(numpy.float32), weight.astype(numpy.float32)
    fast = winograd_conv(Tensor(x32), w32).data
    reference = ops.conv2d(Tensor(x32), Tensor(w32), stride=1, padding=1).data
    scale = numpy.abs(exact).max()
    assert fast.dtype == numpy.float32
    assert numpy.abs(fast - exact).max() / scale < 1e-5
    assert numpy.abs(reference - exact).max() / scale < 1e-5


def test_turned_convolution_is_the_convolution_with_turned_transposed_filters(rng):
    x, weight = rng.standard_normal((2, 3, 5, 7)), rng.standard_normal((4, 3, 3, 3))
    turned = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dy = rng.standard_normal((2, 4, 5, 7))
    numpy.testing.assert_allclose(winograd.convolve_turned(dy, winograd.filters(weight)),
                                  im2col_conv(dy, turned), rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(winograd.convolve(x, winograd.filters(weight)), im2col_conv(x, weight),
                                  rtol=1e-12, atol=1e-12)
