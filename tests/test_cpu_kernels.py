"""The fused CPU kernels (Numba, the extra ``.[fast]``): where they run, and that they change no number.

Each kernel is tested equal to its NumPy form, and through it to the reference op, by the fast path's own
tests (``tests/conftest.py``'s ``cpu_forms`` runs them both ways). Here: the one decision point
(``fast/compiled.py``), and a whole frozen network's explain pass equal bit for bit with and without them.
"""
import numpy
import pytest
from test_resnet import small_resnet

from hadamard_min import Tensor, guided_backprop
from hadamard_min.fast import compiled, switch, winograd

numba = pytest.importorskip("numba", reason="the fused CPU kernels need the extra .[fast] (Numba)")


def explain_pass(model, x, u):
    """(logits, guided input gradient) of a frozen ResNet (its ReLUs, Winograd F(4×4) tiles), and a Winograd
    F(2×2) convolution of x with the filters whose transform is ``u``: every fused kernel runs."""
    xt = Tensor(x, requires_grad=True)
    with guided_backprop():
        logits = model(xt)
        logits.backward(numpy.ones_like(logits.data))
    return logits.data, xt.grad, winograd.convolve(x, u)


def test_the_decision_point_takes_numpy_floats_only_and_follows_the_switch():
    assert compiled.cpu(numpy.zeros(3, dtype=numpy.float32)) is not None
    assert compiled.cpu(numpy.zeros(3)) is not None
    assert compiled.cpu(numpy.zeros(3, dtype=numpy.int64)) is None
    assert compiled.cpu([0.0, 1.0]) is None
    with switch.numba_kernels(False):
        assert compiled.cpu(numpy.zeros(3, dtype=numpy.float32)) is None
    assert compiled.cpu(numpy.zeros(3, dtype=numpy.float32)) is not None


def test_a_bad_hadamard_numba_value_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(switch.NUMBA, "value", None)
    monkeypatch.setenv("HADAMARD_NUMBA", "yes")
    with pytest.raises(switch.FastSwitchError, match="HADAMARD_NUMBA must be 0"):
        switch.numba_enabled()
    monkeypatch.setenv("HADAMARD_NUMBA", "0")
    assert not switch.numba_enabled()


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_the_explain_pass_is_the_numpy_forms_bit_for_bit_and_every_kernel_runs(rng, monkeypatch, dtype):
    model = small_resnet(rng, dtype, layers=(1, 2), width=8).freeze()
    x = rng.standard_normal((2, 3, 37, 30)).astype(dtype)
    u = winograd.filters(rng.standard_normal((4, 3, 3, 3)).astype(dtype), tile=2)
    kernels, called = compiled.cpu(x), set()
    def spy(name, kernel):
        def counted(*args, **keywords):
            called.add(name)
            return kernel(*args, **keywords)
        return counted

    for name in kernels.__all__:
        monkeypatch.setattr(kernels, name, spy(name, getattr(kernels, name)))
    fused = explain_pass(model, x, u)
    assert called == set(kernels.__all__), called
    with switch.numba_kernels(False):
        numpy_forms = explain_pass(model, x, u)
    for a, b in zip(fused, numpy_forms):
        assert a.dtype == dtype
        numpy.testing.assert_array_equal(a, b)


def test_prepare_loads_the_kernels_only_where_they_would_run(monkeypatch):
    """``compiled.prepare`` (called before workers are forked) loads nothing with HADAMARD_NUMBA=0 or the
    fast path off, and every kernel for the dtype otherwise."""
    loaded = []
    monkeypatch.setattr(compiled._kernels(), "load", loaded.append)
    with switch.numba_kernels(False):
        compiled.prepare()
    with switch.fast(False):
        compiled.prepare()
    assert loaded == []
    compiled.prepare(numpy.float64)
    assert loaded == [numpy.float64]

