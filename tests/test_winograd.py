"""Winograd F(2×2, 3×3), the frozen-weight path of 3×3 convolutions: against im2col, central differences."""
import numpy
import pytest

from hadamard_min import Tensor, ops
from hadamard_min.gradcheck import gradcheck
from hadamard_min.ops import winograd
from hadamard_min.ops.conv import im2col

SHAPES = [(1, 3, 4, 6, 6), (2, 2, 3, 5, 7), (1, 4, 2, 1, 1), (2, 1, 1, 2, 3), (1, 5, 6, 9, 4)]


def im2col_conv(x, weight):
    n, c, h, w = x.shape
    cols = im2col(x, 3, 3, 1, 1, h, w).reshape(n, c * 9, h * w)
    return (weight.reshape(len(weight), -1) @ cols).reshape(n, len(weight), h, w)


@pytest.mark.parametrize("shape", SHAPES)
def test_frozen_3x3_convolution_is_winograd_and_matches_im2col(rng, shape):
    n, c, o, h, w = shape
    x = rng.standard_normal((n, c, w, h)).transpose(0, 1, 3, 2)  # a non-contiguous input
    weight, bias = rng.standard_normal((o, c, 3, 3)), rng.standard_normal(o)
    y = ops.conv2d(Tensor(x, requires_grad=True), Tensor(weight), Tensor(bias), stride=1, padding=1)
    assert y.creator.winograd
    numpy.testing.assert_allclose(y.data, im2col_conv(x, weight) + bias.reshape(1, o, 1, 1), rtol=1e-12,
                                  atol=1e-12)
    trained = ops.conv2d(Tensor(x), Tensor(weight, requires_grad=True), stride=1, padding=1)
    assert not trained.creator.winograd  # a weight that needs a gradient keeps im2col


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_winograd_input_gradient_against_central_differences(rng, shape):
    n, c, o, h, w = shape
    weight = Tensor(rng.standard_normal((o, c, 3, 3)))
    gradcheck(lambda x: ops.conv2d(x, weight, stride=1, padding=1), rng.standard_normal((n, c, h, w)))


def test_winograd_input_gradient_equals_the_im2col_one(rng):
    x, weight = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 7, 6))
    grads = []
    for frozen in (True, False):
        xt = Tensor(x, requires_grad=True)
        ops.conv2d(xt, Tensor(weight, requires_grad=not frozen), stride=1, padding=1).backward(dy)
        grads.append(xt.grad)
    numpy.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_turned_convolution_is_the_convolution_with_turned_transposed_filters(rng):
    x, weight = rng.standard_normal((2, 3, 5, 7)), rng.standard_normal((4, 3, 3, 3))
    turned = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dy = rng.standard_normal((2, 4, 5, 7))
    numpy.testing.assert_allclose(winograd.convolve_turned(dy, winograd.filters(weight)),
                                  im2col_conv(dy, turned), rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(winograd.convolve(x, winograd.filters(weight)), im2col_conv(x, weight),
                                  rtol=1e-12, atol=1e-12)


def test_filters_are_remembered_only_when_they_cannot_change(rng):
    weight = rng.standard_normal((2, 3, 3, 3))
    first = winograd.remembered_filters(weight)
    weight[0] += 1  # writeable: recomputed every time
    assert not numpy.allclose(winograd.remembered_filters(weight), first)
    weight.flags.writeable = False
    assert winograd.remembered_filters(weight) is winograd.remembered_filters(weight)
    view = weight[:1]  # read-only, but a view of someone else's data: not remembered
    assert winograd.remembered_filters(view) is not winograd.remembered_filters(view)
    numpy.testing.assert_allclose(winograd.remembered_filters(weight), winograd.filters(weight))
