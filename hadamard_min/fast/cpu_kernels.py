"""Fused CPU kernels (Numba, the optional extra ``.[fast]``): an op's array work in one pass over memory.

The NumPy fast forms (``fast/elementwise.py``, ``fast/winograd.py``) are the definition: each kernel here
computes the same numbers in the same order of operations, so the two agree to the last bit, and the same
tests check both (``tests/conftest.py``'s ``cpu_forms`` runs the fast path's tests each way).

    kernel            computes                                                       instead of
    relu_forward      y = max(x, 0) and the mask [x > 0] packed into bits              3 passes
    relu_backward     dy·m | max(dy, 0)·m | max(dy, 0), the mask unpacked on the fly   2–3 passes
    winograd_inputs   Bᵀ d B for every F(2×2) tile, a row of tiles at a time, into V    pad + 10 passes
    winograd_outputs  Aᵀ M A for every F(2×2) tile, a row of tiles at a time, cropped  8–9 passes + crop
    gather_tiles      the 6×6 tiles of F(4×4) as the columns of D, padding included    pad + strided copy
    max_pool          the window maxima and the first offset tied with each, a plane    k² + 4k² passes
                      at a time over its phase planes (``cpu_windows.py``)
    max_pool_backward dy routed to the winners in offset order, merged into dx          2k² passes + merge
    col2im            a strided convolution's columns added up the same way               k² passes + merge

Only the kernels that beat their NumPy form on one core are here. Kernels that read each window straight
from x (strided, no phase planes) for the max-pool and a strided convolution's columns ran 1.3–1.8× slower
than NumPy's passes; those of ``cpu_windows.py`` split one plane at a time into its phase planes, in the
cache, so that each offset is a contiguous loop the compiler vectorises. The im2col stays NumPy's: its
copies run near the memory bandwidth. Compiled code is cached on disk beside this file (``cache=True``):
the first call in a fresh install compiles (seconds), later processes load it.
"""
import types

import numpy
from numba import njit

from hadamard_min.fast.cpu_compile import KERNEL_OPTIONS, units
from hadamard_min.fast.cpu_windows import col2im, max_pool, max_pool_backward

__all__ = ["col2im", "gather_tiles", "max_pool", "max_pool_backward", "relu_backward", "relu_forward",
           "winograd_inputs", "winograd_outputs"]
RULE_CODES = {"gradient": 0, "guided": 1, "deconvnet": 2}


# --------------------------------------------------------------------------- ReLU
@njit(**KERNEL_OPTIONS)
def _relu_forward(x, zero, y, mask):
    n = x.size
    for byte in range(n // 8):
        bits = 0
        for bit in range(8):
            v = x[8 * byte + bit]
            y[8 * byte + bit] = max(v, zero)                # max(x, 0): a NaN passes
            bits |= (v > zero) << (7 - bit)
        mask[byte] = bits
    if n % 8:
        bits = 0
        for i in range(n - n % 8, n):
            y[i] = max(x[i], zero)
            bits |= (x[i] > zero) << (7 - i % 8)
        mask[n // 8] = bits


def relu_forward(x):
    """(y, mask) of ``elementwise.relu_forward``: one pass, the mask packed as ``numpy.packbits`` packs it."""
    x = numpy.ascontiguousarray(x)
    y = numpy.empty_like(x)
    mask = numpy.empty((x.size + 7) // 8, dtype=numpy.uint8)
    _relu_forward(x.reshape(-1), units(x)[1], y.reshape(-1), mask)
    return y, mask


@njit(**KERNEL_OPTIONS)
def _relu_backward(dy, mask, rule, one, zero, dx):
    n = dy.size
    for byte in range((n + 7) // 8):
        bits, first = mask[byte], 8 * byte
        for bit in range(8 if first + 8 <= n else n - first):
            d = dy[first + bit] if rule == 0 else max(dy[first + bit], zero)  # max(dy, 0) but for the gradient
            if rule != 2:
                d = d * (one if (bits >> (7 - bit)) & 1 else zero)
            dx[first + bit] = d


def relu_backward(dy, mask, rule):
    """dx of ``elementwise.relu_backward`` for ``rule``, in one pass."""
    dy = numpy.ascontiguousarray(dy)
    dx = numpy.empty_like(dy)
    _relu_backward(dy.reshape(-1), mask, RULE_CODES[rule], *units(dy), dx.reshape(-1))
    return dx


# --------------------------------------------------------------------------- Winograd
@njit(**KERNEL_OPTIONS)
def _b_t(d0, d1, d2, d3):
    """The rows of Bᵀ applied to four values, each summed as ``winograd._combine`` sums it."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@njit(**KERNEL_OPTIONS)
def _inputs(x, turned, v):
    n, c, h, w = x.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    order = (3, 1, 2, 0) if turned else (0, 1, 2, 3)         # P Bᵀ: the rows of Bᵀ renumbered
    pad = numpy.zeros((2 * th + 2, 2 * tw + 2), dtype=x.dtype)  # one plane padded by 1 (its border stays 0)
    t = numpy.empty((4, 2 * tw + 2), dtype=x.dtype)            # Bᵀ d for one row of tiles
    for plane in range(n * c):
        i, ch = plane // c, plane % c
        pad[1:h + 1, 1:w + 1] = x[i, ch]
        for ty in range(th):
            y0, first = 2 * ty, ty * tw
            for col in range(2 * tw + 2):                   # Bᵀ d: the four rows combined, every column
                t[0, col], t[1, col], t[2, col], t[3, col] = _b_t(pad[y0, col], pad[y0 + 1, col],
                                                                  pad[y0 + 2, col], pad[y0 + 3, col])
            for a in range(4):                              # (Bᵀ d) B: then the columns, each tile's four
                row = order[a] * 4
                v0, v1 = v[row + order[0], i, ch], v[row + order[1], i, ch]
                v2, v3 = v[row + order[2], i, ch], v[row + order[3], i, ch]
                for tx in range(tw):
                    v0[first + tx], v1[first + tx], v2[first + tx], v3[first + tx] = _b_t(
                        t[a, 2 * tx], t[a, 2 * tx + 1], t[a, 2 * tx + 2], t[a, 2 * tx + 3])


def winograd_inputs(x, turned):
    """V of ``winograd.inputs`` for Bᵀ or P Bᵀ (``turned``): (N, C, H, W) → (16, N, C, tiles), one pass."""
    n, c, h, w = x.shape
    v = numpy.empty((16, n, c, ((h + 1) // 2) * ((w + 1) // 2)), dtype=x.dtype)
    _inputs(numpy.ascontiguousarray(x), turned, v)
    return v


@njit(**KERNEL_OPTIONS)
def _a_t(m0, m1, m2, m3, turned):
    """The rows of Aᵀ (or of Aᵀ P, ``turned``) applied to four values, in ``winograd._combine``'s order."""
    if turned:
        return (m1 + m2) + m3, (m1 - m0) - m2
    return (m0 + m1) + m2, (m1 - m2) - m3


@njit(**KERNEL_OPTIONS)
def _outputs(m, turned, y):
    n, o, h, w = y.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    r = numpy.empty((2, 4, tw), dtype=m.dtype)               # Aᵀ M for one row of tiles
    row = numpy.empty(2 * tw, dtype=m.dtype)                  # one row of the output, before the crop
    for plane in range(n * o):
        i, ch = plane // o, plane % o
        for ty in range(th):
            first = ty * tw
            for b in range(4):                              # Aᵀ M: every tile of the row at once
                for tx in range(tw):
                    r[0, b, tx], r[1, b, tx] = _a_t(m[b, i, ch, first + tx], m[4 + b, i, ch, first + tx],
                                                    m[8 + b, i, ch, first + tx], m[12 + b, i, ch, first + tx],
                                                    turned)
            for a in range(min(2, h - 2 * ty)):             # (Aᵀ M) A: a row of the output, cropped to w
                for tx in range(tw):
                    row[2 * tx], row[2 * tx + 1] = _a_t(r[a, 0, tx], r[a, 1, tx], r[a, 2, tx], r[a, 3, tx], turned)
                y[i, ch, 2 * ty + a] = row[:w]


def winograd_outputs(m, h, w, turned):
    """Y of ``winograd.outputs`` for Aᵀ or Aᵀ P (``turned``): (16, N, O, tiles) → (N, O, h, w), one pass."""
    if m.shape[3] != ((h + 1) // 2) * ((w + 1) // 2):  # the kernel reads tiles by position, unchecked
        raise ValueError(f"{m.shape[3]} tiles do not cover a {h}×{w} output")
    y = numpy.empty((m.shape[1], m.shape[2], h, w), dtype=m.dtype)
    _outputs(numpy.ascontiguousarray(m), turned, y)
    return y


@njit(**KERNEL_OPTIONS)
def _gather_tiles(x, tile, zero, d):
    n, c, h, w = x.shape
    size, th, tw = tile + 2, d.shape[3], d.shape[4]
    for plane in range(n * c):
        i, ch = plane // c, plane % c
        for r in range(size):
            for q in range(size):
                for ty in range(th):
                    row = tile * ty + r - 1
                    for tx in range(tw):
                        col = tile * tx + q - 1
                        d[r * size + q, i, ch, ty, tx] = x[i, ch, row, col] if 0 <= row < h and 0 <= col < w else zero


def gather_tiles(x, tile):
    """D of ``winograd.tiles_by_product``: every (m+2)² tile of x padded by 1 a column, (tile², N, C, th, tw)."""
    n, c, h, w = x.shape
    d = numpy.empty(((tile + 2) ** 2, n, c, -(-h // tile), -(-w // tile)), dtype=x.dtype)
    _gather_tiles(numpy.ascontiguousarray(x), tile, units(x)[1], d)
    return d


def load(dtype):
    """Every kernel called once on a small ``dtype`` array: its compiled code loaded (or compiled) now."""
    x = numpy.ones((1, 1, 4, 4), dtype=dtype)
    y, mask = relu_forward(x)
    relu_backward(y, mask, "guided")
    winograd_outputs(winograd_inputs(x, False), 4, 4, False)
    gather_tiles(x, 4)
    phases = types.SimpleNamespace(shape=x.shape, kernel=3, stride=2, padding=1, out_h=2, out_w=2, rows=4,
                                   width=3, length=6)  # ``phases.Phases(x.shape, 3, 2, 1)``'s geometry
    pooled, index = max_pool(x, numpy.zeros(1, dtype=dtype), phases)
    max_pool(x, None, phases)
    max_pool_backward(pooled, index, phases)
    col2im(numpy.ones((1, 9, phases.length), dtype=dtype), phases)
