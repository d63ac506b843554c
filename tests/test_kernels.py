"""The fused kernels' side that a CPU can check: the NumPy references against straightforward formulas, the
dispatch from the ops, and the CUDA sources themselves, compiled by the C++ compiler with the GPU's grid
emulated by loops and run against the references (skipped where no ``g++`` is installed).

The GPU runs of the same kernels are in tests/gpu/.
"""
import ctypes
import shutil
import subprocess

import numpy
import pytest

from hadamard_min import Tensor, guided_backprop
from hadamard_min.fast import cuda_kernels as kernels
from hadamard_min.fast import winograd
from hadamard_min.fast.fused import FusedConv2d, FusedReLU
from hadamard_min.ops import conv
from hadamard_min.ops.relu import RULES, ReLU

pytestmark = pytest.mark.usefixtures("cpu_forms")  # each test with the NumPy forms and the Numba kernels

ROWS = {"B_T": winograd.B_T, "B_T_TURNED": winograd.B_T_TURNED, "A_T": winograd.A_T,
        "A_T_TURNED": winograd.A_T_TURNED}
CONVOLUTIONS = [(2, 3, 9, 8, 7, 2, 3), (1, 2, 5, 6, 3, 2, 1), (2, 2, 4, 5, 3, 1, 1), (1, 3, 7, 7, 1, 2, 0),
                (1, 2, 5, 5, 5, 3, 2)]  # (n, c, h, w, kernel, stride, padding)
TILES = [(2, 3, 6, 6), (1, 2, 5, 7), (2, 1, 1, 1), (3, 2, 9, 4)]  # (n, c, h, w)


def im2col_formula(x, kh, kw, stride, padding, out_h, out_w):
    """cols[n, c, i, j, y, x] = xpad[n, c, s·y + i, s·x + j], read from an explicitly zero-padded copy."""
    xpad = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = numpy.empty(x.shape[:2] + (kh, kw, out_h, out_w), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xpad[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
    return cols


def col2im_formula(cols, shape, kh, kw, stride, padding):
    """Each window's column added into an explicitly padded image, then the padding cut off."""
    n, c, h, w = shape
    out_h, out_w = cols.shape[-2:]
    xpad = numpy.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride] += cols[:, :, i, j]
    return xpad[:, :, padding:padding + h, padding:padding + w]


def winograd_inputs_formula(x, b_t):
    """V[4a + b, n, c, tile] = (Bᵀ d B)[a, b] for the 4×4 tiles d of x padded by one, stepping by 2."""
    n, c, h, w = x.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    xpad = numpy.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    xpad[:, :, 1:1 + h, 1:1 + w] = x
    d = numpy.stack([numpy.stack([xpad[:, :, 2 * ty:2 * ty + 4, 2 * tx:2 * tx + 4] for tx in range(tw)], 2)
                     for ty in range(th)], 2)  # (N, C, th, tw, 4, 4)
    b_t = numpy.array(b_t, dtype=x.dtype)
    return numpy.einsum("ar,nctsrq,bq->abncts", b_t, d, b_t).reshape(16, n, c, th * tw)


def winograd_outputs_formula(m, h, w, a_t):
    """The 2×2 blocks Aᵀ M A of every tile put side by side, cropped to h × w."""
    _, n, o, _ = m.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    a_t = numpy.array(a_t, dtype=m.dtype)
    blocks = numpy.einsum("ia,abnotu,jb->notiuj", a_t, m.reshape(4, 4, n, o, th, tw), a_t)
    return blocks.reshape(n, o, 2 * th, 2 * tw)[:, :, :h, :w]


def relu_forward_reference(x):
    """(y, mask) as the reference op ``ops.relu.ReLU`` computes them."""
    op = ReLU()
    return op.forward(x), op.saved[0]


def relu_backward_reference(dy, mask, rule):
    """dx of the reference op for ``rule``, from the mask it saved."""
    op = ReLU()
    op.saved, op.rule = (mask,), rule
    return op.backward(dy)[0]


# ------------------------------------------------------------------------- references against formulas
def test_relu_references_are_the_closed_forms(rng):
    x, dy = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    y, mask = relu_forward_reference(x)
    numpy.testing.assert_array_equal(y, numpy.maximum(x, 0))
    numpy.testing.assert_array_equal(mask, x > 0)
    expected = {"gradient": dy * (x > 0), "guided": dy * (x > 0) * (dy > 0), "deconvnet": dy * (dy > 0)}
    for rule in RULES:
        numpy.testing.assert_array_equal(relu_backward_reference(dy, mask, rule), expected[rule])


@pytest.mark.parametrize("shape", CONVOLUTIONS)
def test_im2col_and_col2im_references_equal_the_formulas(rng, shape):
    n, c, h, w, k, s, p = shape
    x = rng.standard_normal((n, c, w, h)).transpose(0, 1, 3, 2)  # non-contiguous
    out = (conv.output_size(h, k, s, p), conv.output_size(w, k, s, p))
    numpy.testing.assert_array_equal(conv.im2col(x, k, k, s, p, *out), im2col_formula(x, k, k, s, p, *out))
    cols = rng.standard_normal((n, c, k, k) + out)
    numpy.testing.assert_allclose(conv.col2im(cols, x.shape, k, k, s, p),
                                  col2im_formula(cols, x.shape, k, k, s, p), rtol=1e-14, atol=1e-14)
    # and col2im is im2col's adjoint: ⟨im2col(x), cols⟩ = ⟨x, col2im(cols)⟩
    numpy.testing.assert_allclose((conv.im2col(x, k, k, s, p, *out) * cols).sum(),
                                  (x * conv.col2im(cols, x.shape, k, k, s, p)).sum(), rtol=1e-12)


@pytest.mark.parametrize("turned", [False, True])
@pytest.mark.parametrize("shape", TILES)
def test_winograd_transform_references_equal_the_matrix_products(rng, shape, turned):
    b_t, a_t = (winograd.B_T_TURNED, winograd.A_T_TURNED) if turned else (winograd.B_T, winograd.A_T)
    n, c, h, w = shape
    x = rng.standard_normal(shape)
    numpy.testing.assert_allclose(winograd.inputs(x, b_t), winograd_inputs_formula(x, b_t), rtol=1e-13,
                                  atol=1e-13)
    m = rng.standard_normal((16, n, c, ((h + 1) // 2) * ((w + 1) // 2)))
    numpy.testing.assert_allclose(winograd.outputs(m, h, w, a_t), winograd_outputs_formula(m, h, w, a_t),
                                  rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", list(ROWS))
def test_kernel_sums_are_written_in_the_references_order(rng, name):
    """Each C sum of the Winograd kernels, evaluated term by term, equals ``_combine`` to the last bit."""
    for row in ROWS[name]:
        parts = [numpy.float32(v) for v in rng.standard_normal(len(row))]
        text = kernels.combination(row, [f"p{k}" for k in range(len(row))])
        value = eval(text, {f"p{k}": part for k, part in enumerate(parts)})  # C's (a - b) is Python's too
        out = numpy.empty((), dtype=numpy.float32)
        winograd._combine(row, [numpy.asarray(p) for p in parts], out)
        assert value.dtype == numpy.float32 and value.tobytes() == out.tobytes(), text


# ------------------------------------------------------------------------- dispatch
def test_numpy_arrays_run_the_references():
    assert not kernels.fused(numpy.zeros(3, dtype=numpy.float32))


def test_gpu_float_arrays_are_fused(monkeypatch):
    monkeypatch.setattr(kernels, "array_module", lambda array: "a GPU module")
    assert kernels.fused(numpy.zeros(3, dtype=numpy.float32)) and kernels.fused(numpy.zeros(3))
    assert not kernels.fused(numpy.zeros(3, dtype=numpy.int64))


def test_ops_route_through_the_kernels_when_fused(monkeypatch, rng):
    """With ``fused`` true, the fast forms of ReLU and convolution call the kernel functions (here stood in
    for by the formulas above, recorded) and give the results they gave before."""
    x, dy = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 4, 6, 5))
    weight = rng.standard_normal((4, 3, 3, 3))

    def explain_pass():
        results = []
        for frozen in (True, False):  # frozen: Winograd; trained: im2col and col2im
            xt = Tensor(x, requires_grad=True)
            with guided_backprop():
                if frozen:
                    h = winograd.WinogradConv2d.apply(xt, u=winograd.filters(weight), bias=None)
                else:
                    h = FusedConv2d.apply(xt, Tensor(weight, requires_grad=True), padding=1, stride=1)
                y = FusedReLU.apply(h)
                y.backward(dy)
            results += [y.data, xt.grad]
        return results

    before = explain_pass()
    stand_ins = {"relu_forward": relu_forward_reference,
                 "relu_backward": relu_backward_reference,
                 "im2col": im2col_formula, "col2im": col2im_formula,
                 "winograd_inputs": winograd_inputs_formula, "winograd_outputs": winograd_outputs_formula}
    calls = []
    for name, function in stand_ins.items():
        monkeypatch.setattr(kernels, name, lambda *args, _name=name, _function=function:
                            calls.append(_name) or _function(*args))
    monkeypatch.setattr(kernels, "fused", lambda array: True)
    after = explain_pass()
    assert sorted(set(calls)) == sorted(stand_ins)
    for mine, reference in zip(after, before):
        numpy.testing.assert_allclose(mine, reference, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------- the CUDA sources, run on the CPU
CPU_GRID = """
struct Dim { long long x; };
static Dim blockIdx, blockDim, threadIdx, gridDim;
#define __global__
typedef float T;
"""
LAUNCHER = """
extern "C" void launch(int grid, int block, const T* source, T* target, long long total, const int* ints) {{
    gridDim.x = grid; blockDim.x = block;
    for (blockIdx.x = 0; blockIdx.x < grid; ++blockIdx.x)
        for (threadIdx.x = 0; threadIdx.x < block; ++threadIdx.x)
            {name}(source, target, total, {ints});
}}
"""


@pytest.fixture(scope="module")
def cpu_kernel(tmp_path_factory):
    """``build(source, name, count)`` compiles the raw kernel ``name`` (taking ``count`` ints) with g++ and a
    launcher that emulates a grid of blocks and threads by loops: ``launch(blocks, threads, source_array,
    target_array, total, ints)``."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: the CUDA sources cannot be run on the CPU")
    folder = tmp_path_factory.mktemp("kernels")

    def build(source, name, count):
        path = folder / f"{name}_{len(list(folder.iterdir()))}"
        ints = ", ".join(f"ints[{k}]" for k in range(count))
        path.with_suffix(".cpp").write_text(CPU_GRID + source + LAUNCHER.format(name=name, ints=ints))
        subprocess.run(["g++", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o",
                        str(path.with_suffix(".so")), str(path.with_suffix(".cpp"))], check=True)
        library = ctypes.CDLL(str(path.with_suffix(".so")))

        def launch(grid, block, source_array, target_array, total, ints):
            ints = numpy.asarray(ints, dtype=numpy.int32)
            assert source_array.flags.c_contiguous and target_array.flags.c_contiguous
            pointers = [ctypes.c_void_p(a.ctypes.data) for a in (source_array, target_array, ints)]
            library.launch(ctypes.c_int(grid), ctypes.c_int(block), pointers[0], pointers[1],
                           ctypes.c_longlong(total), pointers[2])
        return launch
    return build


GRIDS = [(1, 1), (3, 7), (64, 256)]  # (blocks, threads): fewer threads than items, and more


def test_im2col_and_col2im_kernels_equal_the_references_bit_for_bit(cpu_kernel, rng):
    im2col = cpu_kernel(kernels.IM2COL, "hadamard_im2col", 8)
    col2im = cpu_kernel(kernels.COL2IM, "hadamard_col2im", 8)
    for (n, c, h, w, k, s, p), grid in zip(CONVOLUTIONS * 3, GRIDS * len(CONVOLUTIONS)):
        x = rng.standard_normal((n, c, h, w)).astype(numpy.float32)
        out_h, out_w = conv.output_size(h, k, s, p), conv.output_size(w, k, s, p)
        ints = (h, w, k, k, s, p, out_h, out_w)
        cols = numpy.full((n, c, k, k, out_h, out_w), numpy.nan, dtype=numpy.float32)  # every entry written?
        im2col(*grid, x, cols, cols.size, ints)
        numpy.testing.assert_array_equal(cols, conv.im2col(x, k, k, s, p, out_h, out_w))
        cols = rng.standard_normal(cols.shape).astype(numpy.float32)
        dx = numpy.full(x.shape, numpy.nan, dtype=numpy.float32)
        col2im(*grid, cols, dx, dx.size, ints)
        numpy.testing.assert_array_equal(dx, conv.col2im(cols, x.shape, k, k, s, p))


@pytest.mark.parametrize("turned", [False, True])
def test_winograd_kernels_equal_the_references_bit_for_bit(cpu_kernel, rng, turned):
    b_t, a_t = (winograd.B_T_TURNED, winograd.A_T_TURNED) if turned else (winograd.B_T, winograd.A_T)
    inputs = cpu_kernel(kernels.winograd_inputs_source(b_t), "hadamard_winograd_inputs", 4)
    outputs = cpu_kernel(kernels.winograd_outputs_source(a_t), "hadamard_winograd_outputs", 4)
    for (n, c, h, w), grid in zip(TILES * 3, GRIDS * len(TILES)):
        th, tw = (h + 1) // 2, (w + 1) // 2
        x = rng.standard_normal((n, c, h, w)).astype(numpy.float32)
        v = numpy.full((16, n, c, th * tw), numpy.nan, dtype=numpy.float32)
        inputs(*grid, x, v, n * c * th * tw, (h, w, th, tw))
        numpy.testing.assert_array_equal(v, winograd.inputs(x, b_t))
        m = rng.standard_normal(v.shape).astype(numpy.float32)
        y = numpy.full(x.shape, numpy.nan, dtype=numpy.float32)
        outputs(*grid, m, y, n * c * th * tw, (h, w, th, tw))
        numpy.testing.assert_array_equal(y, winograd.outputs(m, h, w, a_t))


def test_relu_kernel_bodies_equal_the_references_bit_for_bit(cpu_kernel, rng):
    """The ElementwiseKernel bodies inside the loop CuPy wraps them in (outputs are references)."""
    forward, backward = kernels.RELU_FORWARD[2], kernels.RELU_BACKWARD[2]
    source = f"""
    void hadamard_relu(const T* xs, T* out, long long total, int rule) {{
        for (long long k = 0; k < total; ++k) {{
            const T& x = xs[k]; T& y = out[k]; bool mask_; bool& mask = mask_;
            {{ {forward} }}
            const T& dy = xs[total + k]; T& dx = out[total + k];
            {{ {backward} }}
        }}
    }}"""
    run = cpu_kernel(source, "hadamard_relu", 1)
    x, dy = rng.standard_normal((2, 500)).astype(numpy.float32)
    x[:3] = [0.0, -0.0, numpy.nan]
    y, mask = relu_forward_reference(x)
    for index, rule in enumerate(RULES):
        out = numpy.full((2, 500), numpy.nan, dtype=numpy.float32)
        run(1, 1, numpy.stack([x, dy]), out, 500, (index,))
        numpy.testing.assert_array_equal(out[0], y)
        numpy.testing.assert_array_equal(out[1], relu_backward_reference(dy, mask, rule))
