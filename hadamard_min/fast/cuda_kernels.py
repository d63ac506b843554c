"""Fused GPU kernels: each written once in CUDA C, each replacing several CuPy calls of a reference op.

``fused(array)`` is True for a CuPy array of float32 or float64: only those go through a compiled kernel.
The reference (the ops in ``hadamard_min/ops/`` and the NumPy code of ``fast/winograd.py``) is the
definition; the kernels only add (in the reference's order) or multiply by 0 and 1, so the two agree to
the last bit, and the tests check that they do.

    kernel              computes                                             instead of
    relu_forward        y = x·[x > 0] and the mask [x > 0]                   2 passes over x
    relu_backward       dy·[x > 0] | dy·[x > 0]·[dy > 0] | dy·[dy > 0]        3 passes
    im2col              the columns of a convolution (``ops.conv.im2col``)   5·kh·kw launches
    col2im              their adjoint, gathered per pixel (no atomics)       kh·kw launches
    winograd_inputs     Bᵀ d B for every 4×4 tile (``winograd.inputs``)       10 launches
    winograd_outputs    Aᵀ M A for every tile (``winograd.outputs``)          8 or 9 launches

On a GPU each CuPy call is a kernel launch (~10 µs of Python and driver time) and a trip through device
memory; a batch-1 ResNet-152 explain pass makes thousands of them, so merging them is what pays. The
kernels are compiled the first time they run (CuPy caches them on disk), so importing this module costs
nothing on a machine without CuPy.
"""
import functools

import numpy

from hadamard_min.core.backend import array_module
from hadamard_min.ops.relu import RULES

C_TYPES = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}
THREADS = 256  # threads per block of the raw kernels (each loops over the grid: any size works)


def fused(array):
    """True when ``array`` can go through a compiled kernel: a CuPy array of float32 or float64."""
    return array_module(array) is not numpy and array.dtype in C_TYPES


# --------------------------------------------------------------------------- ReLU
def relu_forward(x):
    """(y, mask) of ``ops.relu.ReLU.forward``, in one pass: mask = [x > 0], y = x · mask."""
    return _relu_forward_kernel(array_module(x))(x)


def relu_backward(dy, mask, rule):
    """dx of ``ops.relu.ReLU.backward`` by ``rule`` (one of ``ops.relu.RULES``), in one pass."""
    return _relu_backward_kernel(array_module(dy))(dy, mask, RULES.index(rule))


# CuPy ElementwiseKernels: (inputs, outputs, the body run for each element, name); rule is RULES' index
RELU_FORWARD = ("T x", "T y, bool mask",
                "const bool positive = x > (T)0; mask = positive; y = x * (T)positive;",
                "hadamard_relu_forward")
RELU_BACKWARD = ("T dy, bool mask, int32 rule", "T dx",
                 "const bool passes = rule == 0 ? mask : (rule == 1 ? (mask && dy > (T)0) : dy > (T)0);"
                 " dx = dy * (T)passes;",
                 "hadamard_relu_backward")


@functools.cache
def _relu_forward_kernel(cupy):
    return cupy.ElementwiseKernel(*RELU_FORWARD)


@functools.cache
def _relu_backward_kernel(cupy):
    return cupy.ElementwiseKernel(*RELU_BACKWARD)


# --------------------------------------------------------------------------- im2col / col2im
IM2COL = r"""
extern "C" __global__ void hadamard_im2col(
        const T* x, T* cols, long long total, int h, int w, int kh, int kw, int stride, int padding,
        int out_h, int out_w) {
    // cols[n, c, i, j, oy, ox] = x[n, c, s*oy + i - p, s*ox + j - p], zero outside the image
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long rest = k;
        const int ox = rest % out_w; rest /= out_w;
        const int oy = rest % out_h; rest /= out_h;
        const int j = rest % kw; rest /= kw;
        const int i = rest % kh; rest /= kh;                 // rest = n*C + c
        const int y = oy * stride + i - padding, xx = ox * stride + j - padding;
        cols[k] = (y >= 0 && y < h && xx >= 0 && xx < w) ? x[(rest * h + y) * w + xx] : (T)0;
    }
}
"""

COL2IM = r"""
extern "C" __global__ void hadamard_col2im(
        const T* cols, T* dx, long long total, int h, int w, int kh, int kw, int stride, int padding,
        int out_h, int out_w) {
    // dx[n, c, y, x] = sum of cols[n, c, i, j, oy, ox] over the windows (i, j) covering (y, x), in that order
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long rest = k;
        const int xx = rest % w; rest /= w;
        const int y = rest % h; rest /= h;                   // rest = n*C + c
        T sum = 0;
        for (int i = 0; i < kh; ++i) {
            const int ty = y + padding - i;
            if (ty < 0 || ty % stride != 0 || ty / stride >= out_h) continue;
            for (int j = 0; j < kw; ++j) {
                const int tx = xx + padding - j;
                if (tx < 0 || tx % stride != 0 || tx / stride >= out_w) continue;
                sum += cols[(((rest * kh + i) * kw + j) * out_h + ty / stride) * out_w + tx / stride];
            }
        }
        dx[k] = sum;
    }
}
"""


def im2col(x, kh, kw, stride, padding, out_h, out_w):
    """``ops.conv.im2col`` as one kernel: (N, C, H, W) → (N, C, kh, kw, Ho, Wo)."""
    cupy = array_module(x)
    x = cupy.ascontiguousarray(x)
    n, c, h, w = x.shape
    cols = cupy.empty((n, c, kh, kw, out_h, out_w), dtype=x.dtype)
    _launch(_raw_kernel(cupy, IM2COL, "hadamard_im2col", C_TYPES[x.dtype]), cols.size,
            x, cols, *_ints(h, w, kh, kw, stride, padding, out_h, out_w))
    return cols


def col2im(cols, shape, kh, kw, stride, padding):
    """``ops.conv.col2im`` as one kernel: (N, C, kh, kw, Ho, Wo) → (N, C, H, W), each pixel a gather."""
    cupy = array_module(cols)
    cols = cupy.ascontiguousarray(cols)
    out_h, out_w = cols.shape[-2:]
    dx = cupy.empty(shape, dtype=cols.dtype)
    _launch(_raw_kernel(cupy, COL2IM, "hadamard_col2im", C_TYPES[cols.dtype]), dx.size,
            cols, dx, *_ints(shape[2], shape[3], kh, kw, stride, padding, out_h, out_w))
    return dx


# --------------------------------------------------------------------------- Winograd F(2×2, 3×3)
WINOGRAD_INPUTS = r"""
extern "C" __global__ void hadamard_winograd_inputs(const T* x, T* v, long long total, int h, int w,
                                                    int th, int tw) {
    // v[4a + b, n, c, tile] = (B^T d B)[a, b] for the 4x4 tile d = x[n, c, 2ty - 1 ..., 2tx - 1 ...]
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long rest = k;
        const int tx = rest % tw; rest /= tw;
        const int ty = rest % th; rest /= th;                // rest = n*C + c
        const T* plane = x + rest * h * w;
        T d[4][4], t[4][4];
        for (int r = 0; r < 4; ++r)
            for (int q = 0; q < 4; ++q) {
                const int y = 2 * ty + r - 1, xx = 2 * tx + q - 1;
                d[r][q] = (y >= 0 && y < h && xx >= 0 && xx < w) ? plane[y * w + xx] : (T)0;
            }
        for (int q = 0; q < 4; ++q) {
ROWS
        }
        for (int a = 0; a < 4; ++a) {
COLUMNS
        }
    }
}
"""

WINOGRAD_OUTPUTS = r"""
extern "C" __global__ void hadamard_winograd_outputs(const T* m, T* y, long long total, int h, int w,
                                                     int th, int tw) {
    // y[n, o, 2ty + i, 2tx + j] = (A^T M A)[i, j] with M[a, b] = m[4a + b, n, o, tile], cropped to h x w
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long rest = k;
        const int tx = rest % tw; rest /= tw;
        const int ty = rest % th; rest /= th;                // rest = n*O + o
        T M[4][4], r[2][4], out[2][2];
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) M[a][b] = m[(4 * a + b) * total + k];
        for (int b = 0; b < 4; ++b) {
ROWS
        }
        for (int i = 0; i < 2; ++i) {
COLUMNS
        }
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                const int yy = 2 * ty + i, xx = 2 * tx + j;
                if (yy < h && xx < w) y[(rest * h + yy) * w + xx] = out[i][j];
            }
    }
}
"""


def combination(row, parts):
    """C text of Σ_k row[k] · parts[k] for a row of 0, ±1, summed as ``winograd._combine`` does.

    >>> combination((1, 0, -1, 0), ["a", "b", "c", "d"])
    '(a - c)'
    """
    terms = sorted(((c, p) for c, p in zip(row, parts) if c), key=lambda term: term[0] < 0)
    (sign, text), rest = terms[0], terms[1:]
    for c, part in rest:
        text = f"({text} {'+' if c == sign else '-'} {part})"
    return text if sign > 0 else f"-{text}"


def winograd_inputs_source(b_t):
    """The kernel source for the input transform with the 4×4 matrix ``b_t`` (Bᵀ, or P Bᵀ)."""
    rows = "\n".join(f"            t[{a}][q] = {combination(b_t[a], [f'd[{r}][q]' for r in range(4)])};"
                     for a in range(4))
    columns = "\n".join(f"            v[(4 * a + {b}) * total + k] = "
                        f"{combination(b_t[b], [f't[a][{q}]' for q in range(4)])};" for b in range(4))
    return WINOGRAD_INPUTS.replace("ROWS", rows).replace("COLUMNS", columns)


def winograd_outputs_source(a_t):
    """The kernel source for the output transform with the 2×4 matrix ``a_t`` (Aᵀ, or Aᵀ P)."""
    rows = "\n".join(f"            r[{i}][b] = {combination(a_t[i], [f'M[{a}][b]' for a in range(4)])};"
                     for i in range(2))
    columns = "\n".join(f"            out[i][{j}] = {combination(a_t[j], [f'r[i][{b}]' for b in range(4)])};"
                        for j in range(2))
    return WINOGRAD_OUTPUTS.replace("ROWS", rows).replace("COLUMNS", columns)


def winograd_inputs(x, b_t):
    """``winograd.inputs`` as one kernel: (N, C, H, W) → V (16, N, C, tiles)."""
    cupy = array_module(x)
    x = cupy.ascontiguousarray(x)
    n, c, h, w = x.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    v = cupy.empty((16, n, c, th * tw), dtype=x.dtype)
    kernel = _raw_kernel(cupy, winograd_inputs_source(b_t), "hadamard_winograd_inputs", C_TYPES[x.dtype])
    _launch(kernel, n * c * th * tw, x, v, *_ints(h, w, th, tw))
    return v


def winograd_outputs(m, h, w, a_t):
    """``winograd.outputs`` as one kernel: M (16, N, O, tiles) → (N, O, h, w)."""
    cupy = array_module(m)
    m = cupy.ascontiguousarray(m)
    _, n, o, _ = m.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    y = cupy.empty((n, o, h, w), dtype=m.dtype)
    kernel = _raw_kernel(cupy, winograd_outputs_source(a_t), "hadamard_winograd_outputs", C_TYPES[m.dtype])
    _launch(kernel, n * o * th * tw, m, y, *_ints(h, w, th, tw))
    return y


# --------------------------------------------------------------------------- compiling and launching
@functools.cache
def _raw_kernel(cupy, source, name, c_type):
    """The compiled kernel ``name`` of ``source`` with T = ``c_type`` (compiled once per process)."""
    return cupy.RawKernel(f"typedef {c_type} T;\n{source}", name)


def _ints(*values):
    return tuple(numpy.int32(v) for v in values)


def _launch(kernel, total, source, target, *ints):
    """Run a grid-stride kernel over ``total`` items with the arguments (source, target, total, ints...)."""
    if total == 0:
        return
    blocks = min((total + THREADS - 1) // THREADS, 65535)
    kernel((blocks,), (THREADS,), (source, target, numpy.int64(total), *ints))
