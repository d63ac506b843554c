"""Every op forward and backward on CuPy against NumPy in float32; each fused kernel against its reference.

The op cases are those of tests/test_ops_gradcheck.py (random inputs away from kinks and ties, some of them
non-contiguous views), cast to float32; errors are max |gpu − cpu| / max |cpu| ≤ 1e-4. The kernels add in
their references' order, so they must agree with them to the last bit. A kernel's reference is the op of
``hadamard_min/ops`` or the NumPy code of ``hadamard_min/fast``, run on the host by NumPy and on the device by
CuPy with the kernels out of the way (``cuda_kernels.fused`` false, the one place the fast forms ask).
"""
import numpy
import pytest
from gpu_helpers import TOLERANCE, on, relative_error
from test_ops_gradcheck import CASES, positive, signed  # tests/ is on sys.path through its conftest.py

from hadamard_min import fast, ops, relu_rule
from hadamard_min.core.backend import array_module, to_device
from hadamard_min.core.tensor import Tensor
from hadamard_min.fast import cuda_kernels, winograd
from hadamard_min.fast.fused import fused_col2im, fused_im2col
from hadamard_min.nn import functional
from hadamard_min.ops import conv
from hadamard_min.ops.relu import RULES, ReLU


def float32(array):
    array = numpy.asarray(array)
    return array.astype(numpy.float32) if array.dtype.kind == "f" else array


def run(fn, arrays, dy, device):
    """fn's output and every input's gradient for the cotangent ``dy``, everything on ``device``."""
    with on(device):
        tensors = [Tensor(to_device(a), requires_grad=True) for a in arrays]
        out = fn(*tensors)
        out.backward(to_device(dy))
        return out.data, [t.grad for t in tensors]


def assert_close(gpu, cpu, what):
    gpu_out, gpu_grads = gpu
    cpu_out, cpu_grads = cpu
    assert type(gpu_out).__module__.startswith("cupy") and gpu_out.dtype == cpu_out.dtype, what
    assert relative_error(gpu_out, cpu_out) <= TOLERANCE, f"{what}: forward"
    for i, (mine, reference) in enumerate(zip(gpu_grads, cpu_grads)):
        assert type(mine).__module__.startswith("cupy") and mine.dtype == reference.dtype
        assert relative_error(mine, reference) <= TOLERANCE, f"{what}: gradient of input {i}"


@pytest.mark.parametrize("name", list(CASES))
def test_op_on_gpu_equals_cpu(cupy, name):
    fn, inputs = CASES[name](numpy.random.default_rng(0))
    inputs = [float32(a) for a in inputs]
    with on("cpu"):
        shape = fn(*[Tensor(a) for a in inputs]).shape
    dy = numpy.random.default_rng(1).standard_normal(shape).astype(numpy.float32)
    assert_close(run(fn, inputs, dy, "gpu"), run(fn, inputs, dy, "cpu"), name)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_on_gpu_equals_cpu(cupy, training):
    """Output, the gradients of x, γ, β, and (training) the updated running statistics."""
    rng = numpy.random.default_rng(2)
    inputs = [float32(signed(rng, 4, 3, 5, 6) * 2 + 0.5), float32(positive(rng, 3)), float32(signed(rng, 3))]
    statistics = [float32(signed(rng, 3)), float32(positive(rng, 3))]
    dy = rng.standard_normal((4, 3, 5, 6)).astype(numpy.float32)
    results, running = {}, {}
    for device in ("cpu", "gpu"):
        with on(device):
            mean, var = (to_device(s.copy()) for s in statistics)
            results[device] = run(lambda x, g, b, m=mean, v=var: ops.batch_norm(x, g, b, m, v,
                                                                                training=training),
                                  inputs, dy, device)
            running[device] = (mean, var)
    assert_close(results["gpu"], results["cpu"], "batch norm")
    for gpu, cpu in zip(running["gpu"], running["cpu"]):
        assert relative_error(gpu, cpu) <= TOLERANCE


@pytest.mark.parametrize("path", ["fast", "fast without kernels", "reference"])
@pytest.mark.parametrize("rule", RULES)
def test_relu_rules_on_gpu_equal_cpu_to_the_last_bit(cupy, monkeypatch, rule, path):
    """The ReLU as layers call it (``nn.functional.relu``): with the fast path on, the fused kernel on the GPU
    (or, kernels out of the way, ``fast/elementwise.py`` run by CuPy) and the fewer-pass forms on the CPU;
    off (``fast(False)``), the reference op on both."""
    rng = numpy.random.default_rng(3)
    x, dy = float32(signed(rng, 4, 8, 9, 7)), float32(signed(rng, 4, 8, 9, 7))
    x.ravel()[:2] = [0, -0.0]
    if path == "fast without kernels":
        monkeypatch.setattr(cuda_kernels, "fused", lambda array: False)
    with fast(path != "reference"), relu_rule(rule):
        gpu = run(functional.relu, [x], dy, "gpu")
        cpu = run(functional.relu, [x], dy, "cpu")
    numpy.testing.assert_array_equal(cupy.asnumpy(gpu[0]), cpu[0])
    numpy.testing.assert_array_equal(cupy.asnumpy(gpu[1][0]), cpu[1][0])
    reference = numpy.where(x > 0, dy, 0) if rule == "gradient" else numpy.where(
        (x > 0) & (dy > 0) if rule == "guided" else dy > 0, dy, 0)
    numpy.testing.assert_array_equal(cpu[1][0], reference)


def test_dropout_on_gpu_scales_what_it_keeps(cupy):
    """y = x ∘ m / (1 − p) and dx = dy ∘ m / (1 − p) for one mask m (CuPy draws its own numbers)."""
    rng, p = numpy.random.default_rng(4), 0.3
    x, dy = float32(signed(rng, 50, 40)), float32(signed(rng, 50, 40))
    y, (dx,) = run(lambda t: ops.dropout(t, p), [x], dy, "gpu")
    keep = cupy.asnumpy(y) != 0
    assert 0.6 < keep.mean() < 0.8
    numpy.testing.assert_allclose(cupy.asnumpy(y), x * keep / numpy.float32(1 - p), rtol=1e-6)
    numpy.testing.assert_allclose(cupy.asnumpy(dx), dy * keep / numpy.float32(1 - p), rtol=1e-6)


# ------------------------------------------------------------------------------- the fused kernels
def im2col_case(shape, dtype, rng):
    n, c, h, w, k, s, p = shape
    x = rng.standard_normal((n, c, w, h)).astype(dtype).transpose(0, 1, 3, 2)  # non-contiguous
    out = (conv.output_size(h, k, s, p), conv.output_size(w, k, s, p))
    cols = rng.standard_normal((n, c, k, k) + out).astype(dtype)
    return [("im2col", lambda a: fused_im2col(a, k, k, s, p, *out), x),
            ("col2im", lambda a: fused_col2im(a, (n, c, h, w), k, k, s, p), cols)]


def winograd_case(shape, dtype, rng, turned):
    n, c, h, w = shape
    b_t, a_t = (winograd.B_T_TURNED, winograd.A_T_TURNED) if turned else (winograd.B_T, winograd.A_T)
    x = rng.standard_normal(shape).astype(dtype)
    m = rng.standard_normal((16, n, c, ((h + 1) // 2) * ((w + 1) // 2))).astype(dtype)
    return [("winograd inputs", lambda a: winograd.inputs(a, b_t), x),
            ("winograd outputs", lambda a: winograd.outputs(a, h, w, a_t), m)]


def relu_forward(x):
    """(y, mask) of the ReLU: one kernel where ``cuda_kernels.fused``, else the reference op's arrays."""
    if cuda_kernels.fused(x):
        return cuda_kernels.relu_forward(x)
    op = ReLU()
    y = op.forward(x)
    return y, op.saved[0]


def relu_backward(dy, mask, rule):
    """dx of the ReLU by ``rule``: one kernel where ``cuda_kernels.fused``, else the reference op."""
    if cuda_kernels.fused(dy):
        return cuda_kernels.relu_backward(dy, mask, rule)
    op = ReLU(rule=rule)
    op.save(mask)
    return op.backward(dy)[0]


def relu_case(shape, dtype, rng):
    x, dy = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    x.ravel()[:3] = [0, -0.0, numpy.nan]
    mask = x > 0
    return [("relu forward", lambda a: relu_forward(a)[0], x),
            ("relu mask", lambda a: relu_forward(a)[1], x)] + [
        (f"relu backward {rule}", lambda a, r=rule: relu_backward(a, beside(a, mask), r), dy)
        for rule in RULES]


def beside(array, host_array):
    """``host_array`` on the device of ``array``."""
    return array_module(array).asarray(host_array)


SIZES = {  # small, odd and batched shapes, and one past a full grid (65,535 blocks × 256 threads)
    "im2col": [(2, 3, 9, 8, 7, 2, 3), (1, 2, 5, 6, 3, 2, 1), (2, 4, 1, 1, 3, 1, 1),
               (4, 3, 448, 448, 7, 2, 3)],
    "winograd": [(2, 3, 6, 6), (1, 2, 5, 7), (2, 1, 1, 1), (3, 5, 9, 4), (8, 64, 112, 112)],
    "relu": [(3, 5), (4, 64, 112, 111)],
}


def kernel_cases():
    rng = numpy.random.default_rng(5)
    for dtype in (numpy.float32, numpy.float64):
        for shape in SIZES["im2col"]:
            yield from ((f"{name} {shape} {dtype.__name__}", fn, a)
                        for name, fn, a in im2col_case(shape, dtype, rng))
        for shape in SIZES["winograd"]:
            for turned in (False, True):
                yield from ((f"{name}{' turned' * turned} {shape} {dtype.__name__}", fn, a)
                            for name, fn, a in winograd_case(shape, dtype, rng, turned))
        for shape in SIZES["relu"]:
            yield from ((f"{name} {shape} {dtype.__name__}", fn, a)
                        for name, fn, a in relu_case(shape, dtype, rng))


def test_every_kernel_equals_its_reference_to_the_last_bit(cupy, monkeypatch):
    """Each kernel on the GPU, against the reference on the host (NumPy) and the same reference run by CuPy."""
    checked = []
    for name, fn, array in kernel_cases():
        on_gpu = cupy.asarray(array)
        assert cuda_kernels.fused(on_gpu)
        fused = cupy.asnumpy(fn(on_gpu))
        numpy.testing.assert_array_equal(fused, fn(array), err_msg=f"{name}: kernel against NumPy")
        with monkeypatch.context() as patch:
            patch.setattr(cuda_kernels, "fused", lambda array: False)
            numpy.testing.assert_array_equal(fused, cupy.asnumpy(fn(on_gpu)), err_msg=f"{name}: against CuPy")
        checked.append(name)
    assert len(checked) == 2 * (2 * 4 + 4 * 5 + 5 * 2)


def test_kernels_run_only_on_the_fast_path(cupy, monkeypatch):
    """Kernels take CuPy float arrays only, and only on the fast path: ``fast(False)`` gives the reference ops."""
    array = cupy.zeros(3, dtype=cupy.float32)
    assert cuda_kernels.fused(array) and not cuda_kernels.fused(cupy.zeros(3, dtype=cupy.int32))
    assert not cuda_kernels.fused(numpy.zeros(3, dtype=numpy.float32))
    calls = []

    def recorded(name, kernel):
        return lambda *args: calls.append(name) or kernel(*args)
    for name in ("relu_forward", "im2col"):
        monkeypatch.setattr(cuda_kernels, name, recorded(name, getattr(cuda_kernels, name)))
    x = cupy.asarray(numpy.random.default_rng(6).standard_normal((1, 2, 5, 5), dtype=numpy.float32))
    weight = cupy.asarray(numpy.random.default_rng(7).standard_normal((3, 2, 3, 3), dtype=numpy.float32))
    results = {}
    for path in (True, False):
        calls.clear()
        with fast(path):
            results[path] = functional.relu(functional.conv2d(Tensor(x), Tensor(weight), padding=1)).data
        assert calls == (["im2col", "relu_forward"] if path else []), path
    numpy.testing.assert_array_equal(cupy.asnumpy(results[True]), cupy.asnumpy(results[False]))
