"""The engine itself: ordering, accumulation, freeing, no_grad/detach, dtypes, the gradient check, devices."""
import sys

import numpy
import pytest

from hadamard_min import no_grad, ops
from hadamard_min.core import backend
from hadamard_min.core.function import Function
from hadamard_min.core.gradcheck import GradcheckError, gradcheck
from hadamard_min.core.tensor import BackwardError, Tensor, topological_order


def leaf(values):
    return Tensor(numpy.asarray(values, dtype=numpy.float64), requires_grad=True)


def stack_depth():
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_deep_graph_backward_without_recursion():
    """2,000 ops in a chain, built and walked with room for only 150 more frames: nothing is recursive."""
    x = leaf([0.5, -1.5])
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(stack_depth() + 150)  # about 200 under plain pytest
    try:
        y = x
        for _ in range(2000):
            y = y * 1.0005
        y.sum().backward()
    finally:
        sys.setrecursionlimit(limit)
    numpy.testing.assert_allclose(x.grad, [1.0005 ** 2000] * 2, rtol=1e-12)


def test_fan_out_accumulates():
    """y = x·x + 3x → dy/dx = 2x + 3: both uses of x contribute."""
    x = leaf([1.5, -2.0, 0.25])
    (x * x + x * 3).backward(numpy.ones(3))
    numpy.testing.assert_allclose(x.grad, 2 * x.data + 3, rtol=1e-15)


def test_a_sum_of_many_uses_owns_its_array_and_changes_nothing_it_was_given():
    """a used three times, its contributions the same array (Add's backward hands dy on to both inputs):
    the sum is made in an array of its own before anything is added in place, so d root/da = 3k exactly,
    and neither the caller's seed nor any contribution is changed."""
    x = leaf([0.5, -1.0, 2.0])
    a = x + 0.0
    b = a + a                                  # b's backward: (dy, dy), one array twice
    root = b + a                               # a: three contributions, aliasing each other
    seed = numpy.array([1.0, -2.0, 4.0])
    kept = seed.copy()
    root.backward(seed)
    numpy.testing.assert_array_equal(x.grad, 3 * kept)
    numpy.testing.assert_array_equal(seed, kept)


def test_residual_reuse_accumulates():
    """out = tanh(h) + h with h = w·x (a residual block): d out/dx = w (1 − tanh²(h) + 1)."""
    x, w = leaf([0.3, -0.7]), leaf([1.2, 0.4])
    h = w * x
    (ops.tanh(h) + h).sum().backward()
    expected = w.data * (1 - numpy.tanh(w.data * x.data) ** 2 + 1)
    numpy.testing.assert_allclose(x.grad, expected, rtol=1e-14)


def test_diamond_order_gives_the_exact_gradient():
    """root = X · A with A = exp(X), X = x²: X must collect A's share before passing it to x.

    d root/dx = (1 + X) eˣ · 2x.
    """
    x = leaf([0.4, -0.9])
    big_x = x * x
    a = ops.exp(big_x)
    root = big_x * a
    order = topological_order(root)
    assert [id(node) for node in order] == [id(t.node) for t in (x, big_x, a, root)]
    root.backward(numpy.ones(2))
    X = x.data ** 2
    numpy.testing.assert_allclose(x.grad, (1 + X) * numpy.exp(X) * 2 * x.data, rtol=1e-14)


def test_graph_is_freed_and_a_second_backward_raises():
    x = leaf([1.0, 2.0])
    h = x * x
    y = h.sum()
    y.backward()
    assert y.creator is None and h.creator is None
    with pytest.raises(BackwardError, match="retain_graph=True"):
        y.backward()
    with pytest.raises(BackwardError, match="already freed"):
        (h * 2).sum().backward()  # a new graph on top of a freed one
    numpy.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_retain_graph_allows_a_second_backward_that_doubles_the_gradient():
    x = leaf([1.0, -3.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    numpy.testing.assert_array_equal(x.grad, [2.0, -6.0])
    y.backward()
    numpy.testing.assert_array_equal(x.grad, [4.0, -12.0])


def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with no_grad():
        y = x * 3 + 1
        with no_grad():
            pass
        z = ops.tanh(y)  # still inside: the inner block restored "off"
    assert not y.requires_grad and y.creator is None and z.creator is None
    assert (x * 3).requires_grad  # recording is back on after the block
    with pytest.raises(BackwardError, match="does not require grad"):
        z.sum().backward()


def test_detach_stops_gradients():
    x = leaf([2.0, -1.0])
    y = x.detach() * x + x
    y.sum().backward()
    numpy.testing.assert_array_equal(x.grad, x.data + 1)  # not 2x + 1
    assert x.detach().data is x.data and not x.detach().requires_grad


def test_retain_grad_keeps_grad_on_a_non_leaf():
    x = leaf([0.5, 1.5])
    h = (x * 2).retain_grad()
    g = h * 3
    (h * h + g).sum().backward()
    numpy.testing.assert_allclose(h.grad, 2 * h.data + 3, rtol=1e-15)
    assert g.grad is None
    numpy.testing.assert_allclose(x.grad, 2 * (2 * h.data + 3), rtol=1e-15)


def test_leaf_gradients_are_separate_writable_arrays():
    """Add hands both inputs the same array and Sum a read-only broadcast view: .grad must be copies."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not b.grad and a.grad.flags.writeable
    a.grad *= 0.5  # as an optimizer might do in place
    numpy.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_gradients_accumulate_until_zeroed():
    x = leaf([1.0, 2.0])
    for _ in range(2):
        (x * 5).sum().backward()
    numpy.testing.assert_array_equal(x.grad, [10.0, 10.0])
    x.zero_grad()
    assert x.grad is None


def test_float32_stays_float32_with_scalars():
    x = Tensor(numpy.array([[0.5, -1.0], [2.0, 0.25]], dtype=numpy.float32), requires_grad=True)
    results = [x * 2.0, 2.0 * x, x / 3, 1 - x, x + 0.5, -x, x ** 2, x * numpy.float64(1.5),
               numpy.float64(2.0) + x, ops.mean(x), ops.softmax(x), ops.exp(x), ops.sigmoid(x)]
    assert all(r.dtype == numpy.float32 for r in results)
    sum(ops.sum(r) for r in results).backward()
    assert x.grad.dtype == numpy.float32
    assert Tensor([1.0, 2.0]).dtype == numpy.float32 and Tensor(3).dtype == numpy.float32


class WrongSquare(Function):
    """y = x², with a backward that forgets the factor 2."""

    def forward(self, x):
        self.save(x)
        return x * x

    def backward(self, dy):
        return (dy * self.saved[0],)


class RightSquare(WrongSquare):
    def backward(self, dy):
        return (2 * dy * self.saved[0],)


def test_gradcheck_catches_a_wrong_backward(rng):
    x = rng.uniform(0.5, 2.0, (3, 2))
    assert gradcheck(RightSquare.apply, x).passed
    report = gradcheck(WrongSquare.apply, x, raise_on_failure=False)
    assert not report.passed and report.checks[0].max_abs_error > 0.1
    with pytest.raises(GradcheckError) as error:
        gradcheck(WrongSquare.apply, x)
    assert str(report) in str(error.value) and "NO" in str(error.value)


def test_gradcheck_projection_mode_catches_a_wrong_backward(rng):
    x = rng.uniform(0.5, 2.0, (20, 20))
    report = gradcheck(WrongSquare.apply, x, raise_on_failure=False)
    assert report.checks[0].mode == "projections" and not report.passed
    assert gradcheck(RightSquare.apply, x).checks[0].mode == "projections"


class FakeRuntime:
    @staticmethod
    def getDeviceCount():
        raise RuntimeError("cudaErrorNoDevice")


class FakeCupy:
    class cuda:
        runtime = FakeRuntime


@pytest.mark.parametrize("cupy, words", [(None, "not installed"), (FakeCupy, "no CUDA device")])
def test_gpu_without_cupy_or_cuda_is_a_one_line_device_error(monkeypatch, cupy, words):
    monkeypatch.setattr(backend, "cupy", cupy)
    monkeypatch.setattr(backend, "_device", None)
    with pytest.raises(backend.DeviceError, match=words) as error:
        backend.set_device("gpu")
    assert "\n" not in str(error.value) and "cpu" in str(error.value)
    assert backend._device is None  # the failed request changed nothing


def test_environment_variable_chooses_the_device(monkeypatch):
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("HADAMARD_DEVICE", " cpu ")
    assert backend.get_device() == "cpu" and backend.get_xp() is numpy
    monkeypatch.setattr(backend, "cupy", None)
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("HADAMARD_DEVICE", "gpu")
    with pytest.raises(backend.DeviceError):
        backend.get_device()


def test_unknown_device_is_a_value_error(monkeypatch):
    monkeypatch.setattr(backend, "_device", None)
    with pytest.raises(ValueError, match="'cpu' or 'gpu'"):
        backend.set_device("tpu")
    monkeypatch.setenv("HADAMARD_DEVICE", "tpu")
    with pytest.raises(ValueError, match="tpu"):
        backend.get_device()
