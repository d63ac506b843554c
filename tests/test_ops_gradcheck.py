"""Every op's backward against central differences in float64 (``hadamard_min.gradcheck``).

Inputs are random and away from the kinks: ReLU inputs have |x| > 0.1, max-pool inputs have no ties,
log / power / division see only positive values. Some cases feed the op a non-contiguous view
(transposed, strided, reversed) to catch code that assumes C order.
"""
import numpy
import pytest

from hadamard_min import ops
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.core.tensor import Tensor


def signed(rng, *shape):
    """Random values with 0.2 ≤ |x| ≤ 1.5 and random signs (never near a ReLU kink)."""
    return rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape)


def distinct(rng, *shape):
    """Values at least 0.1 apart, in random order: max-pool windows have no ties."""
    n = int(numpy.prod(shape))
    return (rng.permutation(n) * 0.1 - n * 0.05).reshape(shape) + rng.uniform(0, 0.01, shape)


def non_contiguous(t):
    """Assert that the array an op is about to see is not in C order (a view), and pass it on."""
    assert not t.data.flags.c_contiguous
    return t


# name → builder(rng) → (fn, inputs). Each fn takes Tensors and returns a Tensor.
CASES = {
    "add (3,1,4)+(2,4)": lambda r: (ops.add, [signed(r, 3, 1, 4), signed(r, 2, 4)]),
    "add (2,4)+(3,1,4)": lambda r: (ops.add, [signed(r, 2, 4), signed(r, 3, 1, 4)]),
    "add tensor+scalar": lambda r: (lambda a: a + 2.5, [signed(r, 2, 3)]),
    "add scalar+tensor": lambda r: (lambda a: 2.5 + a, [signed(r, 2, 3)]),
    "sub (3,1,4)-(2,4)": lambda r: (ops.sub, [signed(r, 3, 1, 4), signed(r, 2, 4)]),
    "sub (2,4)-(3,1,4)": lambda r: (ops.sub, [signed(r, 2, 4), signed(r, 3, 1, 4)]),
    "sub scalar-tensor": lambda r: (lambda a: 1.5 - a, [signed(r, 2, 3)]),
    "mul (3,1,4)*(2,4)": lambda r: (ops.mul, [signed(r, 3, 1, 4), signed(r, 2, 4)]),
    "mul (2,4)*(3,1,4)": lambda r: (ops.mul, [signed(r, 2, 4), signed(r, 3, 1, 4)]),
    "mul (2,3)*0-d": lambda r: (ops.mul, [signed(r, 2, 3), numpy.array(1.7)]),
    "mul scalar*tensor": lambda r: (lambda a: -0.7 * a, [signed(r, 2, 3)]),
    "div (3,1,4)/(2,4)": lambda r: (ops.div, [signed(r, 3, 1, 4), positive(r, 2, 4)]),
    "div (2,4)/(3,1,4)": lambda r: (ops.div, [signed(r, 2, 4), positive(r, 3, 1, 4)]),
    "div scalar/tensor": lambda r: (lambda a: 2.0 / a, [positive(r, 2, 3)]),
    "div tensor/scalar": lambda r: (lambda a: a / 3.0, [signed(r, 2, 3)]),
    "neg": lambda r: (ops.neg, [signed(r, 2, 3)]),
    "power 2": lambda r: (lambda a: a ** 2, [signed(r, 2, 3)]),
    "power 3": lambda r: (lambda a: ops.power(a, 3), [signed(r, 2, 3)]),
    "power 0.5": lambda r: (lambda a: ops.power(a, 0.5), [positive(r, 2, 3)]),
    "exp": lambda r: (ops.exp, [signed(r, 2, 3)]),
    "log": lambda r: (ops.log, [positive(r, 2, 3)]),
    "tanh": lambda r: (ops.tanh, [signed(r, 2, 3)]),
    "sigmoid": lambda r: (ops.sigmoid, [signed(r, 2, 3) * 3]),
    "relu": lambda r: (ops.relu, [signed(r, 3, 4)]),
    "sum all": lambda r: (lambda a: ops.sum(a), [signed(r, 2, 3, 4)]),
    "sum axis 1": lambda r: (lambda a: ops.sum(a, 1), [signed(r, 2, 3, 4)]),
    "sum axes (0,2)": lambda r: (lambda a: ops.sum(a, (0, 2)), [signed(r, 2, 3, 4)]),
    "sum axis -1 keepdims": lambda r: (lambda a: ops.sum(a, -1, keepdims=True), [signed(r, 2, 3, 4)]),
    "sum all keepdims": lambda r: (lambda a: ops.sum(a, None, keepdims=True), [signed(r, 2, 3, 4)]),
    "mean all": lambda r: (lambda a: ops.mean(a), [signed(r, 2, 3, 4)]),
    "mean axis 1": lambda r: (lambda a: ops.mean(a, 1), [signed(r, 2, 3, 4)]),
    "mean axes (0,2) keepdims": lambda r: (lambda a: ops.mean(a, (0, 2), keepdims=True),
                                           [signed(r, 2, 3, 4)]),
    "reshape": lambda r: (lambda a: a.reshape(4, -1), [signed(r, 2, 3, 4)]),
    "transpose reversed": lambda r: (lambda a: a.transpose(), [signed(r, 2, 3, 4)]),
    "transpose axes (1,2,0)": lambda r: (lambda a: ops.transpose(a, (1, 2, 0)), [signed(r, 2, 3, 4)]),
    "concatenate 3 on axis 1": lambda r: (lambda a, b, c: ops.concatenate([a, b, c], axis=1),
                                          [signed(r, 2, 1, 3), signed(r, 2, 4, 3), signed(r, 2, 2, 3)]),
    "stack axis 0": lambda r: (lambda a, b: ops.stack([a, b]), [signed(r, 2, 3), signed(r, 2, 3)]),
    "stack axis -1": lambda r: (lambda a, b, c: ops.stack([a, b, c], axis=-1),
                                [signed(r, 2, 3), signed(r, 2, 3), signed(r, 2, 3)]),
    "getitem slices": lambda r: (lambda a: a[1:, ::2], [signed(r, 3, 5)]),
    "getitem negative step": lambda r: (lambda a: a[::-1, 3:0:-2], [signed(r, 3, 5)]),
    "getitem int, ellipsis, None": lambda r: (lambda a: a[1, ..., None, -1], [signed(r, 3, 4, 5)]),
    "getitem array with repeats": lambda r: (lambda a: a[numpy.array([0, 2, 2, 1, 2])], [signed(r, 3, 4)]),
    "getitem two arrays": lambda r: (lambda a: a[numpy.array([0, 0, 2]), numpy.array([1, 1, 3])],
                                     [signed(r, 3, 4)]),
    "embedding with repeats": lambda r: (lambda w: ops.embedding(w, numpy.array([[1, 3, 1], [0, 1, 4]])),
                                         [signed(r, 5, 3)]),
    "matmul 2-D": lambda r: (ops.matmul, [signed(r, 3, 4), signed(r, 4, 5)]),
    "matmul batched broadcast": lambda r: (ops.matmul, [signed(r, 2, 1, 3, 4), signed(r, 3, 4, 2)]),
    "matmul batched @ 2-D": lambda r: (lambda a, b: a @ b, [signed(r, 3, 2, 4), signed(r, 4, 2)]),
    "linear 3-D with bias": lambda r: (ops.linear, [signed(r, 2, 3, 4), signed(r, 5, 4), signed(r, 5)]),
    "linear 3-D no bias": lambda r: (ops.linear, [signed(r, 2, 3, 4), signed(r, 5, 4)]),
    "conv 1x1 s1": lambda r: (ops.conv2d, [signed(r, 2, 3, 4, 5), signed(r, 4, 3, 1, 1)]),
    "conv 1x1 s2": lambda r: (lambda x, w: ops.conv2d(x, w, stride=2),
                              [signed(r, 2, 3, 5, 6), signed(r, 4, 3, 1, 1)]),
    "conv 3x3 p1 s1": lambda r: (lambda x, w: ops.conv2d(x, w, padding=1),
                                 [signed(r, 2, 3, 4, 5), signed(r, 2, 3, 3, 3)]),
    "conv 3x3 p1 s2": lambda r: (lambda x, w: ops.conv2d(x, w, stride=2, padding=1),
                                 [signed(r, 2, 3, 5, 6), signed(r, 2, 3, 3, 3)]),
    "conv 7x7 p3 s2": lambda r: (lambda x, w: ops.conv2d(x, w, stride=2, padding=3),
                                 [signed(r, 1, 2, 9, 8), signed(r, 3, 2, 7, 7)]),
    "conv 3x3 p1 with bias": lambda r: (lambda x, w, b: ops.conv2d(x, w, b, padding=1),
                                        [signed(r, 2, 3, 4, 5), signed(r, 2, 3, 3, 3), signed(r, 2)]),
    "conv 3x3 p0 transposed input": lambda r: (
        lambda x, w: ops.conv2d(non_contiguous(x.transpose(0, 1, 3, 2)), w),
        [signed(r, 2, 3, 6, 5), signed(r, 2, 3, 3, 3)]),
    "conv 3x3 p0 reversed strided input": lambda r: (
        lambda x, w: ops.conv2d(non_contiguous(x[:, :, ::-2, 1:]), w),
        [signed(r, 1, 2, 9, 6), signed(r, 2, 2, 3, 3)]),
    "conv 1x1 s2 transposed input": lambda r: (
        lambda x, w: ops.conv2d(non_contiguous(x.transpose(0, 1, 3, 2)), w, stride=2),
        [signed(r, 2, 3, 6, 5), signed(r, 4, 3, 1, 1)]),
    "conv 3x3 p1 transposed weight": lambda r: (
        lambda x, w: ops.conv2d(x, non_contiguous(w.transpose(1, 0, 3, 2)), padding=1),
        [signed(r, 2, 3, 4, 5), signed(r, 3, 2, 3, 3)]),
    "linear transposed input and weight": lambda r: (
        lambda x, w, b: ops.linear(non_contiguous(x.transpose(1, 0, 2)), non_contiguous(w.transpose()), b),
        [signed(r, 3, 2, 4), signed(r, 4, 5), signed(r, 5)]),
    "mul strided inputs": lambda r: (
        lambda a, b: non_contiguous(a[:, ::2]) * non_contiguous(b.transpose()),
        [signed(r, 3, 8), signed(r, 4, 3)]),
    "max_pool 3,2,1": lambda r: (lambda x: ops.max_pool2d(x, 3, 2, 1), [distinct(r, 2, 2, 5, 6)]),
    "max_pool 2,2,0": lambda r: (lambda x: ops.max_pool2d(x, 2), [distinct(r, 2, 2, 4, 6)]),
    "global_avg_pool": lambda r: (ops.global_avg_pool, [signed(r, 2, 3, 4, 5)]),
    "softmax axis 0": lambda r: (lambda x: ops.softmax(x, axis=0), [signed(r, 4, 3)]),
    "softmax axis -1": lambda r: (lambda x: ops.softmax(x, axis=-1), [signed(r, 2, 3, 4)]),
    "log_softmax axis 0": lambda r: (lambda x: ops.log_softmax(x, axis=0), [signed(r, 4, 3)]),
    "log_softmax axis -1": lambda r: (lambda x: ops.log_softmax(x, axis=-1), [signed(r, 2, 3, 4)]),
    "cross_entropy": lambda r: (lambda x: ops.cross_entropy(x, numpy.array([1, 0, 3, 3, 2])),
                                [signed(r, 5, 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name, rng):
    fn, inputs = CASES[name](rng)
    report = gradcheck(fn, *inputs)
    assert report.checks and report.passed


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training, rng):
    """Gradients w.r.t. x, γ and β; in training the statistics are the batch's own."""
    running_mean, running_var = signed(rng, 3), positive(rng, 3)

    def fn(x, gamma, beta):
        return ops.batch_norm(x, gamma, beta, running_mean.copy(), running_var.copy(), training=training)

    report = gradcheck(fn, signed(rng, 4, 3, 2, 3) * 2 + 0.5, positive(rng, 3), signed(rng, 3))
    assert [c.index for c in report.checks] == [0, 1, 2] and report.passed


def test_embedding_gradient_matches_a_loop(rng):
    """dW[k] = Σ over positions i with ids[i] = k of dy[i]: a repeated word gets every contribution."""
    ids = numpy.array([[1, 3, 1], [0, 1, 4]])
    weight = Tensor(signed(rng, 5, 3), requires_grad=True)
    dy = signed(rng, 2, 3, 3)
    out = ops.embedding(weight, ids)
    numpy.testing.assert_array_equal(out.data, weight.data[ids])
    out.backward(dy)
    expected = numpy.zeros((5, 3))
    for n in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            expected[ids[n, t]] += dy[n, t]
    numpy.testing.assert_array_equal(weight.grad, expected)
    assert not numpy.allclose(expected[1], dy[0, 0])  # word 1 really appears more than once


def test_dropout_matches_its_mask(rng):
    """With the seed fixed, y = x ∘ m / (1 − p) and dx = dy ∘ m / (1 − p) for the same mask m."""
    p, x_data, dy = 0.3, signed(rng, 4, 5), signed(rng, 4, 5)
    numpy.random.seed(7)
    keep = (numpy.random.random_sample(x_data.shape) >= p) / (1 - p)
    assert 0 < numpy.count_nonzero(keep) < keep.size
    x = Tensor(x_data, requires_grad=True)
    numpy.random.seed(7)
    y = ops.dropout(x, p)
    numpy.testing.assert_allclose(y.data, x_data * keep, rtol=1e-15, atol=0)
    y.backward(dy)
    numpy.testing.assert_allclose(x.grad, dy * keep, rtol=1e-15, atol=0)
    assert ops.dropout(x, p, training=False) is x and ops.dropout(x, 0.0) is x


def test_dropout_gradcheck(rng):
    def fn(x):
        numpy.random.seed(11)  # the same mask at every evaluation
        return ops.dropout(x, 0.4)

    assert gradcheck(fn, signed(rng, 3, 6)).passed
