"""Fused CPU kernels (Numba, the optional extra ``.[fast]``): each op's array work in one pass over memory.

The NumPy fast forms (``fast/elementwise.py``, ``fast/phases.py``, ``fast/winograd.py``) are the definition:
each kernel here computes the same numbers in the same order of operations, so the two agree to the last
bit, and the same tests check both (``tests/conftest.py``'s ``cpu_kernels`` fixture runs them each way).

    kernel                computes                                                      instead of
    relu_forward          y = max(x, 0) and the mask [x > 0] packed into bits             3 passes
    relu_backward         dy·m | max(dy, 0)·m | max(dy, 0), the mask unpacked on the fly  2–3 passes
    max_pool(_backward)   the window maxima, the first offset tied with the maximum, and   k² + 3k² passes
                          the gradient each input gathers from the windows that chose it
    im2col/col2im_phases  a strided convolution's columns straight from x (and back)     split + k² copies
    winograd_inputs       Bᵀ d B for every 4×4 tile, in ``winograd._combine``'s order       10 passes
    winograd_outputs      Aᵀ M A for every tile, written into the cropped output           8–9 passes + crop
    gather_tiles          the 6×6 tiles of F(4×4) as the columns of D, padding included   pad + strided copy
    scatter_tiles         the 4×4 output blocks put side by side and cropped               transpose + crop

Each kernel runs over image planes (or channels) with ``prange``, on Numba's threads: every output
element is computed by one thread in a fixed order, so results do not depend on the number of threads.
Compiled code is cached on disk beside this file (``cache=True``): the first call in a fresh install
compiles (seconds), later processes load it (milliseconds).
"""
import numpy
from numba import njit, prange

__all__ = ["col2im_phases", "im2col_phases", "max_pool", "max_pool_backward", "relu_backward", "relu_forward"]
KERNEL_OPTIONS = {"parallel": True, "cache": True, "nogil": True}  # every kernel's: threads, a disk cache
RULE_CODES = {"gradient": 0, "guided": 1, "deconvnet": 2}


def units(array):
    """(1, 0) in ``array``'s dtype: a kernel's arithmetic then stays in that dtype, as NumPy's does."""
    return array.dtype.type(1), array.dtype.type(0)


# --------------------------------------------------------------------------- ReLU
@njit(**KERNEL_OPTIONS)
def _relu_forward(x, y, mask):
    n = x.size
    for byte in prange(mask.size):
        bits = 0
        for bit in range(8):
            i = byte * 8 + bit
            if i < n:
                v = x[i]
                if v > 0:
                    bits |= 128 >> bit
                    y[i] = v
                elif v != v:
                    y[i] = v        # NaN passes, as in max(x, 0)
                else:
                    y[i] = 0
        mask[byte] = bits


def relu_forward(x):
    """(y, mask) of ``elementwise.relu_forward``: one pass, the mask packed as ``numpy.packbits`` packs it."""
    x = numpy.ascontiguousarray(x)
    y = numpy.empty_like(x)
    mask = numpy.empty((x.size + 7) // 8, dtype=numpy.uint8)
    _relu_forward(x.reshape(-1), y.reshape(-1), mask)
    return y, mask


@njit(**KERNEL_OPTIONS)
def _relu_backward(dy, mask, rule, one, zero, dx):
    n = dy.size
    for byte in prange((n + 7) // 8):
        bits = mask[byte] if rule != 2 else 0
        for bit in range(8):
            i = byte * 8 + bit
            if i < n:
                d = dy[i]
                if rule != 0 and not (d > 0 or d != d):
                    d = zero                              # max(dy, 0)
                if rule != 2:
                    d = d * (one if bits & (128 >> bit) else zero)
                dx[i] = d


def relu_backward(dy, mask, rule):
    """dx of ``elementwise.relu_backward`` for ``rule``, in one pass."""
    dy = numpy.ascontiguousarray(dy)
    dx = numpy.empty_like(dy)
    _relu_backward(dy.reshape(-1), mask, RULE_CODES[rule], *units(dy), dx.reshape(-1))
    return dx


# --------------------------------------------------------------------------- max pooling
@njit(**KERNEL_OPTIONS)
def _max_pool(x, tau, kernel, stride, padding, lowest, y, index):
    n, c, h, w = x.shape
    out_h, out_w = y.shape[2:]
    for plane in prange(n * c):
        i, ch = plane // c, plane % c
        for oy in range(out_h):
            for ox in range(out_w):
                best = lowest
                for ky in range(kernel):
                    for kx in range(kernel):
                        r, q = oy * stride + ky - padding, ox * stride + kx - padding
                        v = x[i, ch, r, q] if 0 <= r < h and 0 <= q < w else lowest
                        if v > best or v != v:   # a NaN, once met, stays: nothing is > NaN (numpy.maximum)
                            best = v
                tied = best - tau[i]
                first = 0
                for k in range(kernel * kernel):
                    r, q = oy * stride + k // kernel - padding, ox * stride + k % kernel - padding
                    v = x[i, ch, r, q] if 0 <= r < h and 0 <= q < w else lowest
                    if v >= tied:
                        first = k
                        break
                y[i, ch, oy, ox] = best
                index[plane, oy * out_w + ox] = first


def max_pool(x, tau, kernel, stride, padding, out_h, out_w):
    """(y, index) of ``phases.max_pool``: the maxima, and the first offset within τ of each (0 for none)."""
    x = numpy.ascontiguousarray(x)
    y = numpy.empty((*x.shape[:2], out_h, out_w), dtype=x.dtype)
    index = numpy.empty((x.shape[0] * x.shape[1], out_h * out_w), dtype=numpy.uint8)
    lowest = x.dtype.type(-numpy.inf)
    _max_pool(x, numpy.ascontiguousarray(tau.reshape(-1)), kernel, stride, padding, lowest, y, index)
    return y, index


@njit(**KERNEL_OPTIONS)
def _max_pool_backward(dy, index, kernel, stride, padding, one, zero, dx):
    n, c, h, w = dx.shape
    out_h, out_w = dy.shape[2:]
    for plane in prange(n * c):
        i, ch = plane // c, plane % c
        for r in range(h):
            for q in range(w):
                total = zero
                for k in range(kernel * kernel):       # offsets in k order, as the NumPy form adds them
                    ry, rx = r + padding - k // kernel, q + padding - k % kernel
                    oy, ox = ry // stride, rx // stride
                    if ry % stride == 0 and rx % stride == 0 and 0 <= oy < out_h and 0 <= ox < out_w:
                        hit = index[plane, oy * out_w + ox] == k
                        total += dy[i, ch, oy, ox] * (one if hit else zero)
                dx[i, ch, r, q] = total


def max_pool_backward(dy, index, shape, kernel, stride, padding):
    """dx of ``phases.max_pool_backward``: each input gathers dy from the windows whose winner it is."""
    dx = numpy.empty(shape, dtype=dy.dtype)
    _max_pool_backward(numpy.ascontiguousarray(dy), index, kernel, stride, padding, *units(dy), dx)
    return dx


# --------------------------------------------------------------------------- strided convolutions' columns
@njit(cache=True)
def _plane_value(x, plane, stride, padding, width, phase_a, phase_b, f, zero):
    """The value at flat position f of phase plane (a, b) (``phases.Phases.split``): x there, else 0."""
    r = stride * (f // width) + phase_a - padding
    q = stride * (f % width) + phase_b - padding
    if 0 <= r < x.shape[1] and 0 <= q < x.shape[2]:
        return x[plane, r, q]
    return zero


@njit(**KERNEL_OPTIONS)
def _im2col_phases(x, kernel, stride, padding, width, zero, cols):
    for plane in prange(x.shape[0]):
        for k in range(kernel * kernel):
            ky, kx = k // kernel, k % kernel
            start = (ky // stride) * width + kx // stride
            for q in range(cols.shape[2]):
                cols[plane, k, q] = _plane_value(x, plane, stride, padding, width, ky % stride, kx % stride,
                                                 start + q, zero)


def im2col_phases(x, kernel, stride, padding, width, length):
    """The columns of ``phases.im2col`` (N, C·k², length), read straight from x: no phase planes."""
    n, c = x.shape[:2]
    cols = numpy.empty((n * c, kernel * kernel, length), dtype=x.dtype)
    x = numpy.ascontiguousarray(x).reshape(n * c, *x.shape[2:])
    _im2col_phases(x, kernel, stride, padding, width, units(x)[1], cols)
    return cols.reshape(n, c * kernel * kernel, length)


@njit(**KERNEL_OPTIONS)
def _col2im_phases(cols, kernel, stride, padding, rows, width, zero, dx):
    for plane in prange(dx.shape[0]):
        for r in range(dx.shape[1]):
            row, a = (r + padding) // stride, (r + padding) % stride
            for q in range(dx.shape[2]):
                column, b = (q + padding) // stride, (q + padding) % stride
                total = zero
                if row < rows and column < width:       # else no window reads this input
                    f = row * width + column
                    for k in range(kernel * kernel):    # offsets in k order, as the NumPy form adds them
                        ky, kx = k // kernel, k % kernel
                        if ky % stride == a and kx % stride == b:
                            at = f - (ky // stride) * width - kx // stride
                            if 0 <= at < cols.shape[2]:
                                total += cols[plane, k, at]
                dx[plane, r, q] = total


def col2im_phases(cols, shape, kernel, stride, padding, rows, width):
    """dx of ``phases.col2im``: each input gathers, in offset order, the columns that read it."""
    n, c = shape[:2]
    dx = numpy.empty(shape, dtype=cols.dtype)
    cols = numpy.ascontiguousarray(cols).reshape(n * c, kernel * kernel, -1)
    _col2im_phases(cols, kernel, stride, padding, rows, width, units(cols)[1], dx.reshape(n * c, *shape[2:]))
    return dx
