"""The fused CPU kernels (Numba, the extra ``.[fast]``): where they run, and what numbers they give.

Each kernel is tested equal to its NumPy form, and through it to the reference op, by the fast path's own
tests (``tests/conftest.py``'s ``cpu_forms`` runs them both ways). Here: the one decision point
(``fast/compiled.py``); a whole frozen network's explain pass equal bit for bit with and without them; and
F(4×4)'s transform kernels, which sum in another order than the NumPy form's SGEMMs, against float64 within
a bound of their rounding. Skipped under ``HADAMARD_NUMBA=0``, where no kernel runs.
"""
import os

import numpy
import pytest
from test_resnet import small_resnet

from hadamard_min import Tensor, guided_backprop
from hadamard_min.fast import compiled, switch, winograd

numba = pytest.importorskip("numba", reason="the fused CPU kernels need the extra .[fast] (Numba)")
pytestmark = pytest.mark.skipif(os.environ.get("HADAMARD_NUMBA") == "0", reason="HADAMARD_NUMBA=0: no fused kernels")


def explain_pass(model, x, u):
    """(logits, guided input gradient) of a frozen ResNet (its ReLUs, max-pool, strided and Winograd
    convolutions), and a Winograd F(2×2) convolution of x with the filters whose transform is ``u``, then with
    the turned filters: every fused kernel but F(4×4)'s runs, both ways."""
    xt = Tensor(x, requires_grad=True)
    with guided_backprop():
        logits = model(xt)
        logits.backward(numpy.ones_like(logits.data))
    y = winograd.convolve(x, u)
    return logits.data, xt.grad, y, winograd.convolve_turned(y, u)


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


F4_KERNELS = {"winograd4_inputs", "winograd4_outputs"}  # F(4×4)'s transforms: factored, not SGEMMs


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_the_explain_pass_is_the_numpy_forms_bit_for_bit_and_every_kernel_runs(rng, monkeypatch, dtype):
    """Every 3×3 convolution as F(2×2) here: F(4×4)'s kernels sum in another order than the NumPy form's
    SGEMMs (``cpu_winograd.py``), so they are checked against float64 below instead."""
    monkeypatch.setattr(winograd, "output_tile", lambda channels, fused: 2)
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
    assert called == set(kernels.__all__) - F4_KERNELS, called
    with switch.numba_kernels(False):
        numpy_forms = explain_pass(model, x, u)
    for a, b in zip(fused, numpy_forms):
        assert a.dtype == dtype
        numpy.testing.assert_array_equal(a, b)


def rounding_bound(transform, values, eps):
    """16 ε (|T| |values|): a bound on the rounding of ``transform`` @ ``values`` summed in any order."""
    return 16 * eps * (numpy.abs(transform) @ numpy.abs(values.reshape(len(values), -1))).reshape(
        (len(transform),) + values.shape[1:])


def float64_tiles(x):
    """D of the NumPy form, in float64: every 6×6 tile of x padded by 1 (stepping by 4), (36, N, C, tiles)."""
    n, c, h, w = x.shape
    th, tw = -(-h // 4), -(-w // 4)
    xpad = numpy.zeros((n, c, 4 * th + 2, 4 * tw + 2))
    xpad[:, :, 1:1 + h, 1:1 + w] = x
    return numpy.stack([xpad[:, :, r:r + 4 * th:4, q:q + 4 * tw:4].reshape(n, c, th * tw)
                        for r in range(6) for q in range(6)])


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_the_f4_kernels_are_the_transforms_to_rounding_on_any_shape(dtype):
    """V = (Bᵀ ⊗ Bᵀ) D and Y = (Aᵀ ⊗ Aᵀ) M + b, in float64, against the kernels' factored passes on drawn
    shapes: within a bound of their rounding. They read and write without bounds checks, so a wrong tile,
    padding or crop would show as a difference of the values' own size."""
    hypothesis = pytest.importorskip("hypothesis")
    kernels, eps = compiled.cpu(numpy.zeros(1, dtype=dtype)), numpy.finfo(dtype).eps
    b_t, a_t = numpy.kron(winograd.B_T4, winograd.B_T4), numpy.kron(winograd.A_T4, winograd.A_T4)
    sizes = hypothesis.strategies.integers

    @hypothesis.settings(max_examples=40, deadline=None, derandomize=True)
    @hypothesis.given(n=sizes(1, 2), c=sizes(1, 3), h=sizes(1, 13), w=sizes(1, 13), seed=sizes(0, 2 ** 16))
    def check(n, c, h, w, seed):
        rng = numpy.random.default_rng(seed)
        x = (rng.standard_normal((n, c, w, h)) * 10.0 ** rng.integers(-3, 4)).astype(dtype).transpose(0, 1, 3, 2)
        d = float64_tiles(x)
        v = kernels.winograd4_inputs(x)
        assert v.dtype == dtype and v.shape == d.shape
        exact = (b_t @ d.reshape(36, -1)).reshape(d.shape)
        assert numpy.all(numpy.abs(v - exact) <= rounding_bound(b_t, d, eps))

        m, bias = rng.standard_normal(d.shape).astype(dtype), rng.standard_normal(c).astype(dtype)
        y = kernels.winograd4_outputs(m, h, w, bias)
        assert y.dtype == dtype and y.shape == (n, c, h, w)
        def as_image(tiles):  # (16, N, C, tiles) → (N, C, h, w), the 4×4 blocks side by side, cropped
            blocks = tiles.reshape(4, 4, n, c, -(-h // 4), -(-w // 4)).transpose(2, 3, 4, 0, 5, 1)
            return blocks.reshape(n, c, 4 * blocks.shape[2], 4 * blocks.shape[4])[:, :, :h, :w]
        exact = as_image((a_t @ m.reshape(36, -1).astype(numpy.float64)).reshape(16, *m.shape[1:]))
        exact += bias.reshape(1, c, 1, 1)
        limit = as_image(rounding_bound(a_t, m.astype(numpy.float64), eps)) + 2 * eps * numpy.abs(exact)
        assert numpy.all(numpy.abs(y - exact) <= limit)

    check()


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


def window_case(draw):
    """(x, Phases) of a drawn max-pool or strided-convolution window: H ≠ W, strides 1–3, any padding < k,
    values with ties, ±0, ±inf and NaN, float32 or float64."""
    from hadamard_min.fast.phases import Phases
    strategies = pytest.importorskip("hypothesis.strategies")
    kernel = draw(strategies.integers(1, 5))
    stride, padding = draw(strategies.integers(1, 3)), draw(strategies.integers(0, kernel - 1))
    shape = (draw(strategies.integers(1, 2)), draw(strategies.integers(1, 3)),
             draw(strategies.integers(kernel, 11)), draw(strategies.integers(kernel, 11)))
    dtype = draw(strategies.sampled_from([numpy.float32, numpy.float64]))
    rng = numpy.random.default_rng(draw(strategies.integers(0, 2 ** 32 - 1)))
    values = numpy.array([0.0, -0.0, 1.5, -1.5, numpy.inf, -numpy.inf, numpy.nan])
    x = numpy.where(rng.random(shape) < 0.3, rng.choice(values, shape), rng.standard_normal(shape))
    return x.astype(dtype), Phases(shape, kernel, stride, padding)


def test_the_window_kernels_are_the_numpy_forms_bit_for_bit_on_any_window():
    """Max-pool (maxima, winners, routing) and col2im over drawn geometries: the same bits, NaN where NaN
    (the kernels read and write without bounds checks, so a wrong plane size would show here too)."""
    hypothesis = pytest.importorskip("hypothesis")
    from hadamard_min.fast import phases as forms

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
    @hypothesis.given(hypothesis.strategies.data())
    def check(data):
        x, phases = window_case(data.draw)
        dy = numpy.random.default_rng(1).standard_normal((*x.shape[:2], phases.out_h, phases.out_w)).astype(x.dtype)
        dy.flat[0] = -0.0
        cols = numpy.random.default_rng(2).standard_normal((x.shape[0], x.shape[1] * phases.kernel ** 2,
                                                            phases.length)).astype(x.dtype)
        results = {}
        for form in ("numba", "numpy"):
            with switch.numba_kernels(form == "numba"):
                y, index = forms.max_pool(x, phases)
                results[form] = (y, forms.max_pool(x, phases, index=False)[0], phases.crop(index),
                                 forms.max_pool_backward(dy, index, phases), forms.col2im(cols, phases))
        for k, (fused, numpy_form) in enumerate(zip(results["numba"], results["numpy"])):
            assert fused.dtype == numpy_form.dtype and fused.shape == numpy_form.shape
            numpy.testing.assert_array_equal(fused, numpy_form)
            if k >= 3:  # the sums: ±0 alike too (a maximum of −0 and 0 may be either, as numpy.maximum's is)
                signed = ~numpy.isnan(numpy_form)
                assert numpy.array_equal(numpy.signbit(fused)[signed], numpy.signbit(numpy_form)[signed])

    check()


def test_load_warms_the_window_kernels_on_the_geometry_phases_gives():
    """The kernels check no bounds: ``load``'s own window geometry must be ``Phases``'s for its input."""
    from hadamard_min.fast.phases import Phases
    kernels, seen = compiled._kernels(), []
    real = kernels.col2im
    def spy(cols, phases):
        seen.append(phases)
        return real(cols, phases)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "col2im", spy)
        kernels.load(numpy.float32)
    truth = Phases(seen[0].shape, seen[0].kernel, seen[0].stride, seen[0].padding)
    assert vars(seen[0]) == {name: getattr(truth, name) for name in vars(seen[0])}


def test_the_output_kernel_refuses_tiles_that_do_not_cover_the_output():
    """It reads the tiles by position without bounds checks: a count that does not match h × w is refused."""
    kernels = compiled.cpu(numpy.zeros(1, dtype=numpy.float32))
    m = numpy.zeros((16, 1, 1, 4), dtype=numpy.float32)
    assert kernels.winograd_outputs(m, 4, 3, False).shape == (1, 1, 4, 3)
    with pytest.raises(ValueError, match="16 components of 4 tiles are not F"):
        kernels.winograd_outputs(m, 5, 5, False)
    with pytest.raises(ValueError, match="4 components of 4 tiles"):  # read by position too
        kernels.winograd_outputs(m[:4], 4, 3, False)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_the_f4_convolutions_run_on_the_f4_kernels(rng, monkeypatch, dtype):
    """``convolve`` and ``convolve_turned`` with F(4×4)'s 36 components go through both kernels, and give the
    NumPy form's convolution to rounding, in the input's dtype."""
    kernels, called = compiled.cpu(numpy.zeros(1, dtype=dtype)), []
    for name in F4_KERNELS:
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name, lambda *args, real=real, name=name, **keywords: (
            called.append(name), real(*args, **keywords))[1])
    x, weight = rng.standard_normal((2, 3, 9, 6)).astype(dtype), rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    u, turned, bias = winograd.filters(weight, 4), winograd.turned_filters(weight, 4), rng.standard_normal(4)
    results = [winograd.convolve(x, u, bias), winograd.convolve_turned(x[:, :1].repeat(4, 1), u, turned)]
    assert sorted(called) == sorted([*F4_KERNELS, *F4_KERNELS])
    with switch.numba_kernels(False):
        numpy_forms = [winograd.convolve(x, u, bias), winograd.convolve_turned(x[:, :1].repeat(4, 1), u, turned)]
    for fused, numpy_form in zip(results, numpy_forms):
        assert fused.dtype == numpy_form.dtype == dtype
        numpy.testing.assert_allclose(fused, numpy_form, rtol=0, atol=1e3 * numpy.finfo(dtype).eps)


def test_the_f4_output_kernel_refuses_a_product_that_is_not_f4s():
    kernels = compiled.cpu(numpy.zeros(1, dtype=numpy.float32))
    m = numpy.zeros((36, 1, 1, 4), dtype=numpy.float32)
    assert kernels.winograd4_outputs(m, 8, 5).shape == (1, 1, 8, 5)
    with pytest.raises(ValueError, match="36 components of 4 tiles are not F"):
        kernels.winograd4_outputs(m, 9, 9)
    with pytest.raises(ValueError, match="37 components"):
        kernels.winograd4_outputs(numpy.zeros((37, 1, 1, 4), dtype=numpy.float32), 8, 5)
    with pytest.raises(ValueError, match="a bias of 2 values for 1 output channels"):  # read by position too
        kernels.winograd4_outputs(m, 8, 5, numpy.ones(2, dtype=numpy.float32))
    assert kernels.winograd4_outputs(m, 8, 5, numpy.ones((1, 1, 1, 1), dtype=numpy.float32)).max() == 1


@pytest.mark.parametrize("tile, channels, size", [(2, 256, 28), (4, 64, 112)])
def test_the_components_of_v_do_not_start_in_the_same_cache_sets(tile, channels, size):
    """256 channels of 28×28 (F(2×2): 196 tiles) and 64 of 112×112 (F(4×4): 784) make components of 784 KiB,
    a multiple of 4 KiB: V is allocated with a gap between them, and is still a view the products read."""
    kernels = compiled.cpu(numpy.zeros(1, dtype=numpy.float32))
    x = numpy.ones((1, channels, size, size), dtype=numpy.float32)
    v = kernels.winograd_inputs(x, False) if tile == 2 else kernels.winograd4_inputs(x)
    assert v.strides[0] % 4096 != 0 and v.strides[0] > v[0].nbytes
    assert all(component.flags.c_contiguous for component in v)


def test_the_kernels_compile_uncached_where_numba_has_nowhere_to_keep_them(tmp_path):
    """A read-only install with a read-only HOME: Numba refuses cache=True when it decorates (it crashed the
    import of the kernels); they are compiled in the process instead, and compute the same."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import numba.core.caching as caching\n"
        "caching.CacheImpl._locator_classes = []\n"   # no place at all, as there
        "import numpy\n"
        "from hadamard_min.fast import compiled, cpu_compile, elementwise\n"
        "x = numpy.linspace(-1, 1, 64, dtype=numpy.float32).reshape(1, 1, 8, 8)\n"
        "(y, mask), (z, same) = compiled.cpu(x).relu_forward(x), elementwise.relu_forward(x)\n"
        "print(cpu_compile.KERNEL_OPTIONS['cache'], (y == z).all() and (mask == same).all())\n")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=300)
    assert done.returncode == 0 and done.stdout.split() == ["False", "True"], done.stderr[-2000:]
