"""Winograd F(2×2, 3×3) and F(4×4, 3×3), the fast path's 3×3 convolutions: against the reference op (im2col),
central differences, and in float32 against float64."""
import numpy
import pytest

from hadamard_min import Tensor, ops
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.fast import winograd
from hadamard_min.ops.conv import im2col

pytestmark = pytest.mark.usefixtures("cpu_forms")  # each test with the NumPy forms and the Numba kernels

SHAPES = [(1, 3, 4, 6, 6), (2, 2, 3, 5, 7), (1, 4, 2, 1, 1), (2, 1, 1, 2, 3), (1, 5, 6, 9, 4)]


def im2col_conv(x, weight):
    n, c, h, w = x.shape
    cols = im2col(x, 3, 3, 1, 1, h, w).reshape(n, c * 9, h * w)
    return (weight.reshape(len(weight), -1) @ cols).reshape(n, len(weight), h, w)


def winograd_conv(x, weight, bias=None, tile=2):
    turned = winograd.turned_filters(weight, tile) if tile == 4 else None
    return winograd.WinogradConv2d.apply(x, u=winograd.filters(weight, tile), turned=turned, bias=bias)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", SHAPES + [(1, 3, 2, 12, 16), (2, 2, 3, 13, 10)])
def test_winograd_convolution_equals_the_reference_op(rng, shape, tile):
    n, c, o, h, w = shape
    x = rng.standard_normal((n, c, w, h)).transpose(0, 1, 3, 2)  # a non-contiguous input
    weight, bias = rng.standard_normal((o, c, 3, 3)), rng.standard_normal(o)
    y = winograd_conv(Tensor(x, requires_grad=True), weight, bias, tile)
    reference = ops.conv2d(Tensor(x), Tensor(weight), Tensor(bias), stride=1, padding=1)
    numpy.testing.assert_allclose(y.data, reference.data, rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(y.data, im2col_conv(x, weight) + bias.reshape(1, o, 1, 1), rtol=1e-12,
                                  atol=1e-12)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_winograd_input_gradient_against_central_differences(rng, shape, tile):
    n, c, o, h, w = shape
    weight = rng.standard_normal((o, c, 3, 3))
    gradcheck(lambda x: winograd_conv(x, weight, tile=tile), rng.standard_normal((n, c, h, w)))


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_input_gradient_equals_the_reference_one(rng, tile):
    x, weight = rng.standard_normal((2, 3, 9, 6)), rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 9, 6))
    grads = []
    for fast in (True, False):
        xt = Tensor(x, requires_grad=True)
        y = winograd_conv(xt, weight, tile=tile) if fast else ops.conv2d(xt, Tensor(weight), stride=1, padding=1)
        y.backward(dy)
        grads.append(xt.grad)
    numpy.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", SHAPES[:2] + [(1, 64, 32, 16, 16)])
def test_winograd_in_float32_is_as_close_to_float64_as_the_reference(rng, shape, tile):
    """float32 Winograd against the float64 convolution, forward and backward: within 1e-5 of the largest value
    (the reference's own error is about 1e-7; F(4×4)'s larger constants, up to 8 and 1/24, cost it a few more
    bits than F(2×2), and 64 channels sum them up)."""
    n, c, o, h, w = shape
    x, weight = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, 3, 3))
    dy = rng.standard_normal((n, o, h, w))
    exact = im2col_conv(x, weight), winograd.convolve_turned(dy, winograd.filters(weight))
    x32, w32, dy32 = x.astype(numpy.float32), weight.astype(numpy.float32), dy.astype(numpy.float32)
    xt = Tensor(x32, requires_grad=True)
    fast = winograd_conv(xt, w32, tile=tile)
    fast.backward(dy32)
    reference = ops.conv2d(Tensor(x32), Tensor(w32), stride=1, padding=1).data
    assert fast.data.dtype == xt.grad.dtype == numpy.float32
    for mine, truth in zip((fast.data, xt.grad), exact):
        assert numpy.abs(mine - truth).max() / numpy.abs(truth).max() < 1e-5
    assert numpy.abs(reference - exact[0]).max() / numpy.abs(exact[0]).max() < 1e-5


@pytest.mark.parametrize("tile", [2, 4])
def test_turned_convolution_is_the_convolution_with_turned_transposed_filters(rng, tile):
    x, weight = rng.standard_normal((2, 3, 5, 7)), rng.standard_normal((4, 3, 3, 3))
    turned = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dy = rng.standard_normal((2, 4, 5, 7))
    u = winograd.filters(weight, tile)
    numpy.testing.assert_allclose(winograd.convolve_turned(dy, u, winograd.turned_filters(weight, tile)),
                                  im2col_conv(dy, turned), rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(winograd.convolve(x, u), im2col_conv(x, weight), rtol=1e-12, atol=1e-12)


def test_the_cpu_takes_f4_for_narrow_maps_and_the_gpu_kernels_f2():
    assert winograd.output_tile(64, fused=False) == winograd.output_tile(128, fused=False) == 4
    assert winograd.output_tile(256, fused=False) == winograd.output_tile(64, fused=True) == 2
