"""Max-pool's ties: the fast form routes dy as the reference does, bit for bit, and values that rounding
alone has made differ (within τ = ``ops.conv.tie_tolerance``) route as if they were equal: to the first."""
import numpy
import pytest

import hadamard_min as hm
from hadamard_min import Tensor, ops
from hadamard_min.data.easyvqa import load_easy_vqa
from hadamard_min.explain.hadamard import deviation_gradients
from hadamard_min.fast.phases import FastMaxPool2d
from hadamard_min.io.model_files import load_model
from hadamard_min.models import resnet

pytestmark = pytest.mark.usefixtures("cpu_forms")  # each test with the NumPy forms and the Numba kernels


def pool_both(x, dy, kernel=3, stride=2, padding=1):
    """[(y, dx)] of the fast form and of the reference op."""
    results = []
    for op in (FastMaxPool2d, ops.MaxPool2d):
        xt = Tensor(x, requires_grad=True)
        y = op.apply(xt, kernel=kernel, stride=stride, padding=padding)
        y.backward(dy)
        results.append((y.data, xt.grad))
    return results


@pytest.mark.parametrize("shape, kernel, stride, padding", [((2, 3, 9, 8), 3, 2, 1), ((1, 2, 7, 7), 2, 2, 0),
                                                            ((1, 2, 10, 11), 3, 1, 1), ((2, 2, 13, 6), 3, 3, 1)])
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_fast_max_pool_is_the_reference_max_pool_bit_for_bit(rng, shape, kernel, stride, padding, dtype):
    """Ties included: a window whose maximum appears twice routes dy to its first, as the reference does."""
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, :4, :4] = 1.5                                                  # ties inside and across windows
    x[-1, -1] = numpy.round(x[-1, -1])                                      # more ties, and zeros
    dy = rng.standard_normal((shape[0], shape[1]) + (len(range(0, shape[2] + 2 * padding - kernel + 1, stride)),
                                                       len(range(0, shape[3] + 2 * padding - kernel + 1, stride))))
    results = []
    for op in (FastMaxPool2d, ops.MaxPool2d):
        xt = Tensor(x, requires_grad=True)
        y = op.apply(xt, kernel=kernel, stride=stride, padding=padding)
        y.backward(dy.astype(dtype))
        results.append((y.data, xt.grad))
    for fast, reference in zip(*results):
        assert fast.shape == reference.shape and fast.dtype == reference.dtype
        numpy.testing.assert_array_equal(fast, reference)
    assert (results[1][1] == 0).mean() > 0.3  # routing: most inputs win no window


@pytest.mark.parametrize("op", [FastMaxPool2d, ops.MaxPool2d])
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_max_pool_ties_within_rounding_go_to_the_first_offset(rng, op, dtype):
    """A flat map whose values float32 rounding has made differ by an ulp routes every window's dy to its
    first offset, as the exact flat map does, in either dtype; a value larger by more than τ still wins."""
    eps = numpy.finfo(numpy.float32).eps  # τ is float32's in both dtypes
    flat = numpy.full((2, 3, 8, 8), 0.75, dtype=dtype)
    rounded = flat * (1 + rng.integers(-1, 2, flat.shape) * eps).astype(dtype)  # apart by ≤ 2 ε·0.75 < τ
    dy = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    grads = []
    for x in (flat, rounded):
        xt = Tensor(x, requires_grad=True)
        y = op.apply(xt, kernel=2, stride=2, padding=0)
        numpy.testing.assert_array_equal(y.data, x.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))  # y is the max
        y.backward(dy)
        grads.append(xt.grad)
    numpy.testing.assert_array_equal(grads[1], grads[0])
    numpy.testing.assert_array_equal(grads[0][:, :, ::2, ::2], dy)  # the first offset of each window
    clear = flat.copy()
    clear[0, 0, 1, 1] *= 1 + 16 * eps  # beyond τ = 4 ε max|x|: a real maximum, not a tie
    xt = Tensor(clear, requires_grad=True)
    op.apply(xt, kernel=2, stride=2, padding=0).backward(dy)
    assert xt.grad[0, 0, 1, 1] == dy[0, 0, 0, 0] and xt.grad[0, 0, 0, 0] == 0


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_near_ties_at_every_scale_route_alike_on_both_forms_and_alone_or_in_a_batch(rng, dtype):
    """Images at scales 1e-3, 1, 1e3 and 0 (τ is per image), values on a coarse grid nudged by up to ±6
    float32 ulps (some inside τ, some outside), channels at scales of their own."""
    eps = numpy.finfo(numpy.float32).eps
    grid = rng.integers(0, 3, (4, 3, 9, 10)) / 2.0
    nudged = grid * (1 + rng.integers(-6, 7, grid.shape) * eps)
    x = (nudged * numpy.array([1e-3, 1.0, 1e3, 0.0])[:, None, None, None]
         * numpy.array([1.0, 0.25, 3.0])[None, :, None, None]).astype(dtype)
    dy = rng.standard_normal((4, 3, 5, 5)).astype(dtype)
    (fast_y, fast_dx), (ref_y, ref_dx) = pool_both(x, dy)
    numpy.testing.assert_array_equal(fast_y, ref_y)
    numpy.testing.assert_array_equal(fast_dx, ref_dx)
    for b in range(4):  # an image's gradient does not depend on the other images of its batch
        (_, alone), _ = pool_both(x[b:b + 1], dy[b:b + 1])
        numpy.testing.assert_array_equal(alone[0], fast_dx[b])
    assert numpy.count_nonzero(fast_dx[3]) == 5 * 5 * 3  # the zero image: each window to one offset


def test_non_finite_values_route_alike_on_both_forms(rng):
    """One inf does not make every window of its image a tie (τ over the finite values); a NaN window routes
    to offset 0 on both forms."""
    x = rng.standard_normal((2, 2, 6, 6))
    x[0, 0, 2, 2], x[1, 1, 3, 3] = numpy.inf, numpy.nan
    dy = rng.standard_normal((2, 2, 3, 3))
    (fast_y, fast_dx), (ref_y, ref_dx) = pool_both(x, dy)
    numpy.testing.assert_array_equal(fast_y, ref_y)
    numpy.testing.assert_array_equal(fast_dx, ref_dx)
    numpy.testing.assert_allclose(fast_dx[0].sum(), dy[0].sum())  # nothing routed to the −∞ padding


@pytest.mark.parametrize("shape, kernel", [((0, 3, 8, 8), 3), ((2, 0, 8, 8), 3), ((1, 2, 20, 20), 17)])
def test_empty_inputs_and_kernels_past_a_byte_take_the_reference(rng, shape, kernel):
    x = rng.standard_normal(shape)
    out = (shape[2] + 2 - kernel) // 2 + 1
    dy = rng.standard_normal((shape[0], shape[1], out, out))
    (fast_y, fast_dx), (ref_y, ref_dx) = pool_both(x, dy, kernel=kernel, padding=1)
    numpy.testing.assert_array_equal(fast_y, ref_y)
    numpy.testing.assert_array_equal(fast_dx, ref_dx)


@pytest.mark.parametrize("path", [True, False], ids=["fast", "reference"])
def test_the_shipped_models_explanation_of_flat_images_is_deaf_to_rounding(monkeypatch, path):
    """easy-VQA's drawn images are flat: most windows of the stem's max-pool hold values equal in exact
    arithmetic. Moving every input of that max-pool by ±1 float32 ulp, as another BLAS kernel's summation
    order may, must not move ∇v (eq. 2) beyond rounding, image by image."""
    data = load_easy_vqa("test")
    rows = range(0, 2000, 100)
    model = load_model()
    images = numpy.stack([model.prepare_image(data.images[data.image_index[k]])[1] for k in rows])
    questions = [data.questions[k] for k in rows]
    pool = resnet.max_pool2d

    def explain(nudge):
        def nudged_pool(x, *args, **kwargs):
            ulps = numpy.random.default_rng(0).integers(-1, 2, x.shape).astype(numpy.float32)
            return pool(x * Tensor(1 + ulps * numpy.finfo(numpy.float32).eps), *args, **kwargs) if nudge \
                else pool(x, *args, **kwargs)
        monkeypatch.setattr(resnet, "max_pool2d", nudged_pool)
        with hm.fast(path), model.frozen():
            out, I, q, _ = model.forward_from_leaves(images, questions)
            return numpy.asarray(deviation_gradients(out, I, q)[0].data)

    plain, nudged = explain(False), explain(True)
    for b in range(len(rows)):
        scale = numpy.abs(plain[b]).max()
        assert numpy.abs(nudged[b] - plain[b]).max() <= 1e-4 * scale, rows[b]


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_without_a_graph_the_fast_max_pool_gives_the_same_maxima_and_keeps_no_winners(rng, dtype, monkeypatch):
    """Inference (``no_grad``, or an input that needs no gradient) finds no winning offsets: nothing is kept
    for a backward that cannot come, and the maxima are the same bits, NaN and ties included."""
    from hadamard_min.fast import phases
    found, phases_max_pool = [], phases.max_pool
    monkeypatch.setattr(phases, "max_pool", lambda *a, **k: found.append(phases_max_pool(*a, **k)) or found[-1])
    x = rng.standard_normal((2, 3, 11, 10)).astype(dtype)
    x[0, 0, :4, :4] = 1.5
    x[1, 2, 3, 3] = numpy.nan
    recorded = FastMaxPool2d.apply(Tensor(x, requires_grad=True), kernel=3, stride=2, padding=1)
    with hm.no_grad():
        plain = FastMaxPool2d.apply(Tensor(x, requires_grad=True), kernel=3, stride=2, padding=1)
    frozen = FastMaxPool2d.apply(Tensor(x), kernel=3, stride=2, padding=1)
    reference = ops.MaxPool2d.apply(Tensor(x), kernel=3, stride=2, padding=1)
    assert [index is None for _, index in found] == [False, True, True]
    for y in (plain, frozen):
        numpy.testing.assert_array_equal(y.data, recorded.data)
    numpy.testing.assert_array_equal(recorded.data, reference.data)
