"""Every op, forward and backward in float32, against PyTorch in float64 on the same inputs (CPU).

The error is max |ours − torch| / max |torch|, for the output and for each input's gradient:
at most 1e-5 for elementwise ops and reductions, 1e-4 for convolution, matmul and batch norm
(long float32 sums, in an order that depends on the BLAS kernel and the thread count). Inputs keep away
from kinks (ReLU inputs at least 0.2 from 0, distinct max-pool values), so that no rounding decides a side.
"""
import numpy
import pytest

from hadamard_min import deconvnet, guided_backprop, ops
from hadamard_min.core.tensor import Tensor
from hadamard_min.oracle.torch_models import closed_form_relu

ELEMENTWISE, HEAVY = 1e-5, 1e-4


def signed(rng, *shape):
    return (rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape)).astype(numpy.float32)


def positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape).astype(numpy.float32)


def distinct(rng, *shape):
    n = int(numpy.prod(shape))
    return ((rng.permutation(n) * 0.1 - n * 0.05).reshape(shape)).astype(numpy.float32)


def relative_error(ours, reference):
    reference = reference.detach().numpy()
    return float(numpy.abs(ours - reference).max() / numpy.abs(reference).max())


def assert_parity(torch, fn, torch_fn, inputs, tol, rng):
    """Run both sides on the same float32 inputs and cotangent; compare outputs and gradients."""
    ours = [Tensor(a, requires_grad=True) for a in inputs]
    out = fn(*ours)
    dy = rng.standard_normal(out.shape).astype(numpy.float32)
    out.backward(dy)
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    reference = torch_fn(*theirs)
    reference.backward(torch.from_numpy(dy.astype(numpy.float64)))
    assert out.dtype == numpy.float32 and out.shape == tuple(reference.shape)
    assert relative_error(out.data, reference) <= tol, "forward"
    for i, (mine, torch_input) in enumerate(zip(ours, theirs)):
        assert mine.grad.dtype == numpy.float32
        assert relative_error(mine.grad, torch_input.grad) <= tol, f"gradient of input {i}"


IDS = numpy.array([[1, 3, 1], [0, 1, 4]])
TARGETS = numpy.array([1, 0, 3, 3, 2])

# name → (tolerance, builder(torch, torch.nn.functional, rng) → (ours, torch's, inputs)).
CASES = {
    "add broadcast": (ELEMENTWISE, lambda t, F, r: (
        ops.add, lambda a, b: a + b, [signed(r, 3, 1, 4), signed(r, 2, 4)])),
    "sub broadcast": (ELEMENTWISE, lambda t, F, r: (
        ops.sub, lambda a, b: a - b, [signed(r, 2, 4), signed(r, 3, 1, 4)])),
    "mul broadcast": (ELEMENTWISE, lambda t, F, r: (
        ops.mul, lambda a, b: a * b, [signed(r, 3, 1, 4), signed(r, 2, 4)])),
    "div broadcast": (ELEMENTWISE, lambda t, F, r: (
        ops.div, lambda a, b: a / b, [signed(r, 3, 1, 4), positive(r, 2, 4)])),
    "scalars": (ELEMENTWISE, lambda t, F, r: (
        lambda a: (2.0 - a) * 0.5 / 3 + 1.5, lambda a: (2.0 - a) * 0.5 / 3 + 1.5, [signed(r, 3, 4)])),
    "neg": (ELEMENTWISE, lambda t, F, r: (ops.neg, lambda a: -a, [signed(r, 3, 4)])),
    "power 2": (ELEMENTWISE, lambda t, F, r: (lambda a: a ** 2, lambda a: a ** 2, [signed(r, 3, 4)])),
    "power 3": (ELEMENTWISE, lambda t, F, r: (lambda a: a ** 3, lambda a: a ** 3, [signed(r, 3, 4)])),
    "power 0.5": (ELEMENTWISE, lambda t, F, r: (lambda a: a ** 0.5, lambda a: a ** 0.5, [positive(r, 3, 4)])),
    "exp": (ELEMENTWISE, lambda t, F, r: (ops.exp, lambda a: a.exp(), [signed(r, 3, 4)])),
    "log": (ELEMENTWISE, lambda t, F, r: (ops.log, lambda a: a.log(), [positive(r, 3, 4)])),
    "tanh": (ELEMENTWISE, lambda t, F, r: (ops.tanh, lambda a: a.tanh(), [signed(r, 3, 4)])),
    "sigmoid": (ELEMENTWISE, lambda t, F, r: (ops.sigmoid, lambda a: a.sigmoid(), [signed(r, 3, 4) * 4])),
    "relu": (ELEMENTWISE, lambda t, F, r: (ops.relu, lambda a: a.relu(), [signed(r, 3, 4)])),
    "sum axes (0,2)": (ELEMENTWISE, lambda t, F, r: (
        lambda a: ops.sum(a, (0, 2)), lambda a: a.sum((0, 2)), [signed(r, 2, 3, 4)])),
    "mean axis 1 keepdims": (ELEMENTWISE, lambda t, F, r: (
        lambda a: ops.mean(a, 1, keepdims=True), lambda a: a.mean(1, keepdim=True), [signed(r, 2, 3, 4)])),
    "mean all": (ELEMENTWISE, lambda t, F, r: (ops.mean, lambda a: a.mean(), [signed(r, 2, 3, 4)])),
    "reshape": (ELEMENTWISE, lambda t, F, r: (
        lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6), [signed(r, 2, 3, 4)])),
    "transpose": (ELEMENTWISE, lambda t, F, r: (
        lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1), [signed(r, 2, 3, 4)])),
    "concatenate": (ELEMENTWISE, lambda t, F, r: (
        lambda a, b, c: ops.concatenate([a, b, c], axis=1), lambda a, b, c: t.cat([a, b, c], 1),
        [signed(r, 2, 1, 3), signed(r, 2, 4, 3), signed(r, 2, 2, 3)])),
    "stack": (ELEMENTWISE, lambda t, F, r: (
        lambda a, b: ops.stack([a, b], axis=1), lambda a, b: t.stack([a, b], 1),
        [signed(r, 2, 3), signed(r, 2, 3)])),
    "getitem with repeats": (ELEMENTWISE, lambda t, F, r: (
        lambda a: a[numpy.array([2, 0, 2]), 1:], lambda a: a[[2, 0, 2], 1:], [signed(r, 3, 4)])),
    "getitem negative step": (ELEMENTWISE, lambda t, F, r: (
        lambda a: a[::-1, ::2], lambda a: a.flip(0)[:, ::2], [signed(r, 3, 5)])),
    "embedding with repeats": (ELEMENTWISE, lambda t, F, r: (
        lambda w: ops.embedding(w, IDS), lambda w: F.embedding(t.from_numpy(IDS), w), [signed(r, 5, 3)])),
    "softmax axis 0": (ELEMENTWISE, lambda t, F, r: (
        lambda x: ops.softmax(x, 0), lambda x: x.softmax(0), [signed(r, 4, 3)])),
    "softmax axis -1": (ELEMENTWISE, lambda t, F, r: (
        ops.softmax, lambda x: x.softmax(-1), [signed(r, 2, 3, 4)])),
    "log_softmax axis 0": (ELEMENTWISE, lambda t, F, r: (
        lambda x: ops.log_softmax(x, 0), lambda x: x.log_softmax(0), [signed(r, 4, 3)])),
    "log_softmax axis -1": (ELEMENTWISE, lambda t, F, r: (
        ops.log_softmax, lambda x: x.log_softmax(-1), [signed(r, 2, 3, 4)])),
    "cross_entropy": (ELEMENTWISE, lambda t, F, r: (
        lambda x: ops.cross_entropy(x, TARGETS), lambda x: F.cross_entropy(x, t.from_numpy(TARGETS)),
        [signed(r, 5, 4) * 3])),
    "max_pool 3,2,1": (ELEMENTWISE, lambda t, F, r: (
        lambda x: ops.max_pool2d(x, 3, 2, 1), lambda x: F.max_pool2d(x, 3, 2, 1), [distinct(r, 2, 3, 7, 6)])),
    "max_pool 2,2,0": (ELEMENTWISE, lambda t, F, r: (
        lambda x: ops.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2), [distinct(r, 2, 3, 4, 6)])),
    "global_avg_pool": (ELEMENTWISE, lambda t, F, r: (
        ops.global_avg_pool, lambda x: x.mean((2, 3)), [signed(r, 2, 3, 4, 5)])),
    "matmul 2-D": (HEAVY, lambda t, F, r: (
        ops.matmul, lambda a, b: a @ b, [signed(r, 3, 4), signed(r, 4, 5)])),
    "matmul batched": (HEAVY, lambda t, F, r: (
        ops.matmul, lambda a, b: a @ b, [signed(r, 2, 1, 3, 4), signed(r, 3, 4, 2)])),
    "linear with bias": (HEAVY, lambda t, F, r: (
        ops.linear, F.linear, [signed(r, 2, 3, 8), signed(r, 5, 8), signed(r, 5)])),
    "linear no bias": (HEAVY, lambda t, F, r: (ops.linear, F.linear, [signed(r, 2, 3, 8), signed(r, 5, 8)])),
    "conv 1x1 s1": (HEAVY, lambda t, F, r: (
        ops.conv2d, F.conv2d, [signed(r, 2, 3, 5, 6), signed(r, 4, 3, 1, 1)])),
    "conv 1x1 s2": (HEAVY, lambda t, F, r: (
        lambda x, w: ops.conv2d(x, w, stride=2), lambda x, w: F.conv2d(x, w, stride=2),
        [signed(r, 2, 3, 5, 6), signed(r, 4, 3, 1, 1)])),
    "conv 3x3 p1 s1 bias": (HEAVY, lambda t, F, r: (
        lambda x, w, b: ops.conv2d(x, w, b, padding=1), lambda x, w, b: F.conv2d(x, w, b, padding=1),
        [signed(r, 2, 3, 5, 6), signed(r, 4, 3, 3, 3), signed(r, 4)])),
    "conv 3x3 p1 s2": (HEAVY, lambda t, F, r: (
        lambda x, w: ops.conv2d(x, w, stride=2, padding=1), lambda x, w: F.conv2d(x, w, stride=2, padding=1),
        [signed(r, 2, 3, 7, 6), signed(r, 4, 3, 3, 3)])),
    "conv 7x7 p3 s2": (HEAVY, lambda t, F, r: (
        lambda x, w: ops.conv2d(x, w, stride=2, padding=3), lambda x, w: F.conv2d(x, w, stride=2, padding=3),
        [signed(r, 1, 3, 11, 10), signed(r, 4, 3, 7, 7)])),
    "conv 3x3 transposed input": (HEAVY, lambda t, F, r: (
        lambda x, w: ops.conv2d(x.transpose(0, 1, 3, 2), w), lambda x, w: F.conv2d(x.transpose(2, 3), w),
        [signed(r, 2, 3, 6, 5), signed(r, 2, 3, 3, 3)])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_parity(name, torch, rng):
    tol, build = CASES[name]
    fn, torch_fn, inputs = build(torch, torch.nn.functional, rng)
    assert_parity(torch, fn, torch_fn, inputs, tol, rng)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_parity_and_running_statistics(training, torch, rng):
    """One step of batch norm: output, gradients, and (in training) the running mean and variance."""
    F = torch.nn.functional
    mean, var = signed(rng, 3), positive(rng, 3)
    ours_stats = [mean.copy(), var.copy()]
    torch_stats = [torch.tensor(mean, dtype=torch.float64), torch.tensor(var, dtype=torch.float64)]

    def fn(x, gamma, beta):
        return ops.batch_norm(x, gamma, beta, *ours_stats, training=training, momentum=0.1, eps=1e-5)

    def torch_fn(x, gamma, beta):
        return F.batch_norm(x, *torch_stats, gamma, beta, training=training, momentum=0.1, eps=1e-5)

    x = signed(rng, 4, 3, 5, 5) * 2 + 0.7
    assert_parity(torch, fn, torch_fn, [x, positive(rng, 3), signed(rng, 3)], HEAVY, rng)
    for ours, theirs, initial in zip(ours_stats, torch_stats, (mean, var)):
        assert relative_error(ours, theirs) <= ELEMENTWISE
        assert numpy.array_equal(ours, initial) != training  # moved in training, untouched otherwise


@pytest.mark.parametrize("context, guided", [(guided_backprop, True), (deconvnet, False)])
def test_guided_and_deconvnet_relu_in_a_small_network(context, guided, torch, rng):
    """conv → ReLU → conv → ReLU → pool → linear, with the rule at every ReLU, against torch in float64."""
    F = torch.nn.functional
    x, w1, w2 = signed(rng, 2, 3, 6, 6), signed(rng, 4, 3, 3, 3) * 0.5, signed(rng, 5, 4, 3, 3) * 0.5
    w3, dy = signed(rng, 3, 5), rng.standard_normal((2, 3)).astype(numpy.float32)

    xt = Tensor(x, requires_grad=True)
    with context():
        h = ops.relu(ops.conv2d(ops.relu(ops.conv2d(xt, Tensor(w1), padding=1)), Tensor(w2), padding=1))
        out = ops.linear(ops.global_avg_pool(h), Tensor(w3))
    out.backward(dy)

    x, w1, w2, w3, dy = (torch.tensor(a, dtype=torch.float64) for a in (x, w1, w2, w3, dy))
    first = F.conv2d(x, w1, padding=1)
    second = F.conv2d(first.relu(), w2, padding=1)
    for z in (first, second):  # no ReLU input within float32 rounding of its kink: no rounding picks a side
        assert z.abs().min() > 1e-4 * z.abs().max()
    relu = closed_form_relu(torch, "guided" if guided else "deconvnet")
    xr = x.clone().requires_grad_(True)
    h = relu(F.conv2d(relu(F.conv2d(xr, w1, padding=1)), w2, padding=1))
    F.linear(h.mean((2, 3)), w3).backward(dy)
    assert relative_error(xt.grad, xr.grad) <= HEAVY
    plain = x.clone().requires_grad_(True)
    h = F.conv2d(F.conv2d(plain, w1, padding=1).relu(), w2, padding=1).relu()
    F.linear(h.mean((2, 3)), w3).backward(dy)
    assert relative_error(xt.grad, plain.grad) > 1e-2  # the rule is not the gradient
