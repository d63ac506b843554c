"""The ops a mobile network needs: grouped (depthwise) convolution, ReLU6 and its three backward rules,
asymmetric zero padding and TensorFlow's "same" padding.

Gradients are checked against central differences in float64; forward and backward against PyTorch,
ours in float32 against torch in float64 (and both in float64). ReLU6's guided and deconvnet rules are
not gradients, so they are checked against their closed forms:

    gradient:  dx = dy · [0 < x < 6]
    guided:    dx = dy · [0 < x < 6] · [dy > 0]
    deconvnet: dx = dy · [dy > 0]
"""
import math

import numpy
import pytest

from hadamard_min import ops, relu_rule
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.core.tensor import Tensor
from hadamard_min.nn import functional
from hadamard_min.nn.layers import BatchNorm2d, Conv2d
from hadamard_min.ops.conv import same_padding


def signed(rng, *shape):
    """Values with 0.2 ≤ |x| ≤ 1.5 and random signs."""
    return rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def away_from_relu6_kinks(rng, *shape):
    """Values in (−2, 8) at least 0.2 from the kinks at 0 and 6, on all three pieces of ReLU6."""
    values = rng.uniform(-2, 8, shape)
    values[numpy.abs(values) < 0.2] += 0.5
    values[numpy.abs(values - 6) < 0.2] += 0.5
    return values


GRADCHECK_CASES = {
    "conv 3x3 p1 groups=2": lambda r: (lambda x, w: ops.conv2d(x, w, padding=1, groups=2),
                                       [signed(r, 2, 4, 5, 4), signed(r, 6, 2, 3, 3)]),
    "conv 1x1 groups=3": lambda r: (lambda x, w: ops.conv2d(x, w, groups=3),
                                    [signed(r, 2, 6, 3, 4), signed(r, 3, 2, 1, 1)]),
    "depthwise 3x3 s2 with bias": lambda r: (lambda x, w, b: ops.conv2d(x, w, b, stride=2, groups=4),
                                             [signed(r, 2, 4, 7, 6), signed(r, 4, 1, 3, 3), signed(r, 4)]),
    "depthwise 5x5 p2 transposed input": lambda r: (
        lambda x, w: ops.conv2d(x.transpose(0, 1, 3, 2), w, padding=2, groups=3),
        [signed(r, 1, 3, 6, 5), signed(r, 3, 1, 5, 5)]),
    "pad asymmetric (0, 1, 1, 2)": lambda r: (lambda x: ops.zero_pad(x, 0, 1, 1, 2), [signed(r, 2, 3, 4, 5)]),
    "pad then depthwise s2 (TF same)": lambda r: (
        lambda x, w: ops.conv2d(ops.zero_pad(x, 0, 1, 0, 1), w, stride=2, groups=2),
        [signed(r, 1, 2, 6, 6), signed(r, 2, 1, 3, 3)]),
    "relu6": lambda r: (ops.relu6, [away_from_relu6_kinks(r, 4, 5)]),
}


@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_gradcheck(name, rng):
    fn, inputs = GRADCHECK_CASES[name](rng)
    report = gradcheck(fn, *inputs)
    assert report.checks and report.passed, str(report)


def test_relu6_cases_reach_every_piece(rng):
    x = away_from_relu6_kinks(rng, 4, 5)
    assert (x < 0).any() and ((x > 0) & (x < 6)).any() and (x > 6).any()


# ---------------------------------------------------------------------------------------- ReLU6's rules
RELU6_RULES = {
    "gradient": lambda x, dy: dy * ((x > 0) & (x < 6)),
    "guided": lambda x, dy: dy * ((x > 0) & (x < 6)) * (dy > 0),
    "deconvnet": lambda x, dy: dy * (dy > 0),
}


@pytest.mark.parametrize("rule", list(RELU6_RULES))
@pytest.mark.parametrize("where", ["forward", "backward"])
def test_relu6_rule_matches_closed_form_exactly(rule, where, rng):
    x_data, dy = away_from_relu6_kinks(rng, 8, 9), signed(rng, 8, 9)
    x = Tensor(x_data, requires_grad=True)
    if where == "forward":
        with relu_rule(rule):
            y = ops.relu6(x)
        y.backward(dy)
    else:
        y = ops.relu6(x)
        with relu_rule(rule):
            y.backward(dy)
    numpy.testing.assert_array_equal(y.data, numpy.clip(x_data, 0, 6))
    numpy.testing.assert_array_equal(x.grad, RELU6_RULES[rule](x_data, dy))
    for other in set(RELU6_RULES) - {rule}:
        assert not numpy.array_equal(x.grad, RELU6_RULES[other](x_data, dy)), f"{rule} equals {other}"


# ---------------------------------------------------------------------------------------- "same" padding
def test_same_padding_keeps_ceil_size_with_least_padding():
    """For every size, kernel and stride: the output is ⌈size/stride⌉ long, no smaller total padding gives
    that, and the odd zero goes after (TensorFlow's convention)."""
    for size in range(1, 40):
        for kernel in (1, 3, 5, 7):
            for stride in (1, 2, 3):
                before, after = same_padding(size, kernel, stride)
                out = (size + before + after - kernel) // stride + 1
                assert out == math.ceil(size / stride), (size, kernel, stride)
                total = before + after
                assert total == 0 or (size + total - 1 - kernel) // stride + 1 < out, (size, kernel, stride)
                assert after - before in (0, 1), (size, kernel, stride)


def test_same_padding_of_efficientnet_downsampling_is_asymmetric():
    """Stride 2 on an even size: one zero less before than after (PyTorch's padding=k//2 would differ)."""
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(56, 5, 2) == (1, 2)
    assert same_padding(113, 3, 2) == (1, 1)
    assert same_padding(14, 5, 1) == (2, 2)


# ---------------------------------------------------------------------------------------- the layer and the fast path
def test_grouped_conv_layer_has_the_grouped_weight_shape():
    assert Conv2d(8, 16, 3, groups=4).weight.shape == (16, 2, 3, 3)
    assert Conv2d(8, 8, 5, groups=8).weight.shape == (8, 1, 5, 5)


def test_frozen_depthwise_conv_bn_equals_the_reference(rng):
    """A frozen model folds batch norm into the convolution; a depthwise 3×3/1 one must not go to Winograd."""
    conv = Conv2d(4, 4, 3, padding=1, groups=4, rng=rng)
    bn = BatchNorm2d(4)
    bn.weight.data, bn.bias.data = rng.uniform(0.5, 1.5, 4).astype("f4"), rng.normal(0, 0.3, 4).astype("f4")
    object.__setattr__(bn, "running_mean", rng.normal(0, 0.3, 4).astype("f4"))
    object.__setattr__(bn, "running_var", rng.uniform(0.5, 1.5, 4).astype("f4"))
    x = signed(rng, 2, 4, 6, 6).astype("f4")
    reference = bn(conv(Tensor(x))).data
    for module in (conv, bn):
        object.__setattr__(module, "is_frozen", True)
    folded = functional.conv_bn(Tensor(x), conv, bn).data
    assert conv.inference_form is not None and conv.inference_form.u is None
    numpy.testing.assert_allclose(folded, reference, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------- PyTorch parity
PARITY_CASES = {
    "depthwise 3x3 s2 after TF-same pad": (
        lambda x, w, b: ops.conv2d(ops.zero_pad(x, 0, 1, 0, 1), w, b, stride=2, groups=6),
        lambda F, x, w, b: F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2, groups=6),
        [(2, 6, 10, 10), (6, 1, 3, 3), (6,)]),
    "depthwise 5x5 s1 p2": (
        lambda x, w, b: ops.conv2d(x, w, b, padding=2, groups=6),
        lambda F, x, w, b: F.conv2d(x, w, b, padding=2, groups=6),
        [(2, 6, 9, 8), (6, 1, 5, 5), (6,)]),
    "grouped 3x3 groups=3, 12→6": (
        lambda x, w, b: ops.conv2d(x, w, b, padding=1, groups=3),
        lambda F, x, w, b: F.conv2d(x, w, b, padding=1, groups=3),
        [(2, 12, 7, 7), (6, 4, 3, 3), (6,)]),
    "pad (1, 2, 0, 3)": (
        lambda x: ops.zero_pad(x, 1, 2, 0, 3),
        lambda F, x: F.pad(x, (0, 3, 1, 2)),
        [(2, 3, 4, 5)]),
    "relu6": (ops.relu6, lambda F, x: F.relu6(x), [(3, 40)]),
}


def _run_ours(fn, arrays, dy):
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(dy.astype(out.dtype))
    return out.data, [t.grad for t in tensors]


@pytest.mark.parametrize("name", list(PARITY_CASES))
def test_parity_with_torch(name, torch, rng):
    """Ours in float32 within 1e-5 (relative to the largest value) of torch in float64; both in float64
    within 1e-12."""
    ours_fn, torch_fn, shapes = PARITY_CASES[name]
    arrays = [rng.uniform(-8, 8, s) if name == "relu6" else signed(rng, *s) for s in shapes]
    inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    reference = torch_fn(torch.nn.functional, *inputs)
    dy = rng.standard_normal(tuple(reference.shape))
    reference.backward(torch.from_numpy(dy))
    expected = [reference.detach().numpy()] + [t.grad.numpy() for t in inputs]
    for dtype, tolerance in ((numpy.float32, 1e-5), (numpy.float64, 1e-12)):
        out, grads = _run_ours(ours_fn, [a.astype(dtype) for a in arrays], dy)
        for label, got, want in zip(["output"] + [f"grad {i}" for i in range(len(grads))], [out, *grads], expected):
            assert got.dtype == dtype and got.shape == want.shape, label
            error = numpy.abs(got - want).max() / numpy.abs(want).max()
            assert error <= tolerance, f"{name} {label} {numpy.dtype(dtype).name}: relative error {error:.2e}"
