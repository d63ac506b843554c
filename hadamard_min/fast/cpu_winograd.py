"""The fused CPU kernels of the Winograd convolutions (``fast/winograd.py``): each tile transform one pass.

F(2×2, 3×3): Bᵀ d B and Aᵀ M A hold only 0 and ±1, and the kernels add in the order of the NumPy form
(``winograd._combine``), so the numbers are its own to the last bit.

F(4×4, 3×3): the NumPy form computes V = (Bᵀ ⊗ Bᵀ) D and Y = (Aᵀ ⊗ Aᵀ) M as SGEMMs with 36×36 matrices over
gathered tiles, 36 multiply-adds a value where most coefficients are 0. Here each tile is transformed
factored, its rows and then its columns (Bᵀ d, then (Bᵀ d) B; Aᵀ M, then (Aᵀ M) A), the same matrices, 3 to
5 terms a value, reading x and writing V (or reading M and writing y) once. The same sums in another order:
they round differently from the SGEMM (whose order depends on the BLAS kernel anyway), so these two are
tested against the float64 transforms and the reference convolution to a tolerance, not bit for bit.
The coefficients (2, 4, 5, 8) are made in the array's dtype, so float32 stays float32.
"""
import numpy
from numba import njit

from hadamard_min.fast.cpu_compile import KERNEL_OPTIONS, units

__all__ = ["winograd4_inputs", "winograd4_outputs", "winograd_inputs", "winograd_outputs"]


def _components(count, n, c, tiles, dtype):
    """An empty V, (count, N, C, tiles), whose components start 64 bytes past a multiple of each other's size.

    A kernel writes the components of every tile at once, ``count`` streams. Where C · tiles is a multiple of
    1,024 floats (256 channels of 28×28 maps: 196 tiles), back to back they would all start in the same cache
    sets and evict one another: the F(2×2) input transform of such a map took 0.60 ms instead of 0.42.
    """
    size = n * c * tiles
    rows = numpy.empty((count, size + 64 // numpy.dtype(dtype).itemsize), dtype=dtype)
    return rows[:, :size].reshape(count, n, c, tiles)  # a view: each component's (N, C, tiles) contiguous


# --------------------------------------------------------------------------- F(2×2, 3×3)
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
    v = _components(16, n, c, ((h + 1) // 2) * ((w + 1) // 2), x.dtype)
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
    if m.shape[0] != 16 or m.shape[3] != ((h + 1) // 2) * ((w + 1) // 2):  # read by position, unchecked
        raise ValueError(f"{m.shape[0]} components of {m.shape[3]} tiles are not F(2×2)'s for a {h}×{w} output")
    y = numpy.empty((m.shape[1], m.shape[2], h, w), dtype=m.dtype)
    _outputs(numpy.ascontiguousarray(m), turned, y)
    return y


# --------------------------------------------------------------------------- F(4×4, 3×3)
@njit(**KERNEL_OPTIONS)
def _b_t4(d0, d1, d2, d3, d4, d5, two, four, five):
    """The six rows of Bᵀ (``winograd.B_T4``) applied to six values."""
    return (four * d0 - five * d2 + d4, (d3 + d4) - four * (d1 + d2), (d4 - d3) + four * (d1 - d2),
            (d4 - d2) + two * (d3 - d1), (d4 - d2) + two * (d1 - d3), four * d1 - five * d3 + d5)


@njit(**KERNEL_OPTIONS)
def _inputs4(x, one, v):
    n, c, h, w = x.shape
    th, tw = (h + 3) // 4, (w + 3) // 4
    two = one + one
    four = two + two
    five = four + one
    pad = numpy.zeros((4 * th + 2, 4 * tw + 2), dtype=x.dtype)  # one plane padded by 1 and to whole tiles
    t = numpy.empty((6, 4 * tw + 2), dtype=x.dtype)            # Bᵀ d for one row of tiles
    for plane in range(n * c):
        i, ch = plane // c, plane % c
        pad[1:h + 1, 1:w + 1] = x[i, ch]
        for ty in range(th):
            y0, first = 4 * ty, ty * tw
            for col in range(4 * tw + 2):                   # Bᵀ d: the six rows combined, every column
                t[0, col], t[1, col], t[2, col], t[3, col], t[4, col], t[5, col] = _b_t4(
                    pad[y0, col], pad[y0 + 1, col], pad[y0 + 2, col], pad[y0 + 3, col], pad[y0 + 4, col],
                    pad[y0 + 5, col], two, four, five)
            for a in range(6):                              # (Bᵀ d) B: then the columns, each tile's six
                v0, v1, v2 = v[6 * a, i, ch], v[6 * a + 1, i, ch], v[6 * a + 2, i, ch]
                v3, v4, v5 = v[6 * a + 3, i, ch], v[6 * a + 4, i, ch], v[6 * a + 5, i, ch]
                for tx in range(tw):
                    k, at = 4 * tx, first + tx
                    v0[at], v1[at], v2[at], v3[at], v4[at], v5[at] = _b_t4(
                        t[a, k], t[a, k + 1], t[a, k + 2], t[a, k + 3], t[a, k + 4], t[a, k + 5], two, four, five)


def winograd4_inputs(x):
    """V of ``winograd.tiles_by_product``: (N, C, H, W) → (36, N, C, tiles), Bᵀ d B of every 6×6 tile."""
    n, c, h, w = x.shape
    v = _components(36, n, c, ((h + 3) // 4) * ((w + 3) // 4), x.dtype)
    _inputs4(numpy.ascontiguousarray(x), units(x)[0], v)
    return v


@njit(**KERNEL_OPTIONS)
def _a_t4(m0, m1, m2, m3, m4, m5, two, four, eight):
    """The four rows of Aᵀ (``winograd.A_T4``) applied to six values."""
    plus, minus, plus2, minus2 = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return (m0 + plus) + plus2, minus + two * minus2, plus + four * plus2, (minus + eight * minus2) + m5


@njit(**KERNEL_OPTIONS)
def _outputs4(m, bias, one, y):
    n, o, h, w = y.shape
    th, tw = (h + 3) // 4, (w + 3) // 4
    two = one + one
    four = two + two
    eight = four + four
    r = numpy.empty((4, 6, tw), dtype=m.dtype)               # Aᵀ M for one row of tiles
    row = numpy.empty(4 * tw, dtype=m.dtype)                  # one row of the output, before the crop
    for plane in range(n * o):
        i, ch = plane // o, plane % o
        for ty in range(th):
            first = ty * tw
            for b in range(6):                              # Aᵀ M: every tile of the row at once
                for tx in range(tw):
                    at = first + tx
                    r[0, b, tx], r[1, b, tx], r[2, b, tx], r[3, b, tx] = _a_t4(
                        m[b, i, ch, at], m[6 + b, i, ch, at], m[12 + b, i, ch, at], m[18 + b, i, ch, at],
                        m[24 + b, i, ch, at], m[30 + b, i, ch, at], two, four, eight)
            for a in range(min(4, h - 4 * ty)):             # (Aᵀ M) A + b: a row of the output, cropped to w
                for tx in range(tw):
                    row[4 * tx], row[4 * tx + 1], row[4 * tx + 2], row[4 * tx + 3] = _a_t4(
                        r[a, 0, tx], r[a, 1, tx], r[a, 2, tx], r[a, 3, tx], r[a, 4, tx], r[a, 5, tx], two, four, eight)
                for col in range(w):
                    y[i, ch, 4 * ty + a, col] = row[col] + bias[ch]


def winograd4_outputs(m, h, w, bias=None):
    """Y of ``winograd.untile_by_product``: (36, N, O, tiles) → (N, O, h, w), Aᵀ M A (+ b) of every tile."""
    if m.shape[0] != 36 or m.shape[3] != ((h + 3) // 4) * ((w + 3) // 4):  # read by position, unchecked
        raise ValueError(f"{m.shape[0]} components of {m.shape[3]} tiles are not F(4×4)'s for a {h}×{w} output")
    bias = numpy.zeros(m.shape[2], dtype=m.dtype) if bias is None else numpy.asarray(bias, dtype=m.dtype).ravel()
    if bias.shape != m.shape[2:3]:
        raise ValueError(f"a bias of {bias.size} values for {m.shape[2]} output channels")
    y = numpy.empty((m.shape[1], m.shape[2], h, w), dtype=m.dtype)
    _outputs4(numpy.ascontiguousarray(m), bias, units(m)[0], y)
    return y
