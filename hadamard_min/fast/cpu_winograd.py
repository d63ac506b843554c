"""Fused CPU kernels of ``fast/winograd.py`` (Numba, the optional extra ``.[fast]``; ``fast/cpu_kernels.py``).

F(2×2, 3×3): ``inputs`` and ``outputs`` as one pass each, a tile per step, every row of Bᵀ or Aᵀ combined in
the order ``winograd._combine`` uses (its ``program``), so the numbers are the NumPy form's to the last bit.
F(4×4, 3×3): the transforms stay SGEMMs; the 6×6 tiles are gathered into D (padding included) and the 4×4
output blocks scattered into the cropped output in one pass each, instead of a padded copy, a strided copy,
a transposed copy and a crop.
"""
import functools

import numpy
from numba import njit, prange

from hadamard_min.fast.cpu_kernels import KERNEL_OPTIONS, units

__all__ = ["gather_tiles", "scatter_tiles", "winograd_inputs", "winograd_outputs"]


@functools.cache
def program(rows):
    """How ``winograd._combine`` sums each row of 0, +1, −1: (terms, signs, negate) as arrays, one row each.

    terms[r] lists the parts, positive coefficients first (−1 pads); signs[r, t] is +1 where term t is added
    to the running sum, −1 where it is subtracted; negate[r] where the sum is negated at the end.
    """
    terms = numpy.full((len(rows), 4), -1, dtype=numpy.int64)
    signs = numpy.zeros((len(rows), 4), dtype=numpy.int64)
    negate = numpy.zeros(len(rows), dtype=numpy.int64)
    for r, row in enumerate(rows):
        ordered = sorted(((c, k) for k, c in enumerate(row) if c), key=lambda term: term[0] < 0)
        sign = ordered[0][0]
        negate[r] = sign < 0
        for t, (c, k) in enumerate(ordered):
            terms[r, t], signs[r, t] = k, 1 if c == sign else -1
    return terms, signs, negate


@njit(cache=True)
def _combine(terms, signs, negate, row, parts):
    total = parts[terms[row, 0]]
    for t in range(1, 4):
        k = terms[row, t]
        if k < 0:
            break
        total = total + parts[k] if signs[row, t] > 0 else total - parts[k]
    return -total if negate[row] else total


@njit(**KERNEL_OPTIONS)
def _inputs(x, terms, signs, negate, zero, v):
    n, c, h, w = x.shape
    tw = (w + 1) // 2
    for plane in prange(n * c):
        i, ch = plane // c, plane % c
        d = numpy.empty(4, dtype=x.dtype)
        t = numpy.empty((4, 4), dtype=x.dtype)
        for tile in range(v.shape[3]):
            y0, x0 = 2 * (tile // tw) - 1, 2 * (tile % tw) - 1
            for k in range(4):                              # Bᵀ d: each column k of the tile, rows combined
                for r in range(4):
                    row, col = y0 + r, x0 + k
                    d[r] = x[i, ch, row, col] if 0 <= row < h and 0 <= col < w else zero
                for a in range(4):
                    t[a, k] = _combine(terms, signs, negate, a, d)
            for a in range(4):                              # (Bᵀ d) B: then columns
                for b in range(4):
                    v[a * 4 + b, i, ch, tile] = _combine(terms, signs, negate, b, t[a])


def winograd_inputs(x, b_t):
    """V of ``winograd.inputs``: (N, C, H, W) → (16, N, C, tiles), one pass."""
    n, c, h, w = x.shape
    v = numpy.empty((16, n, c, ((h + 1) // 2) * ((w + 1) // 2)), dtype=x.dtype)
    _inputs(numpy.ascontiguousarray(x), *program(b_t), units(x)[1], v)
    return v


@njit(**KERNEL_OPTIONS)
def _outputs(m, terms, signs, negate, y):
    n, o, h, w = y.shape
    tw = (w + 1) // 2
    for plane in prange(n * o):
        i, ch = plane // o, plane % o
        parts = numpy.empty(4, dtype=m.dtype)
        r = numpy.empty((2, 4), dtype=m.dtype)
        for tile in range(m.shape[3]):
            ty, tx = tile // tw, tile % tw
            for b in range(4):                              # Aᵀ M
                for a in range(4):
                    parts[a] = m[a * 4 + b, i, ch, tile]
                for row in range(2):
                    r[row, b] = _combine(terms, signs, negate, row, parts)
            for row in range(2):                            # (Aᵀ M) A, cropped to h × w
                for col in range(2):
                    if 2 * ty + row < h and 2 * tx + col < w:
                        y[i, ch, 2 * ty + row, 2 * tx + col] = _combine(terms, signs, negate, col, r[row])


def winograd_outputs(m, h, w, a_t):
    """Y of ``winograd.outputs``: (16, N, O, tiles) → (N, O, h, w), one pass."""
    y = numpy.empty((m.shape[1], m.shape[2], h, w), dtype=m.dtype)
    _outputs(numpy.ascontiguousarray(m), *program(a_t), y)
    return y


@njit(**KERNEL_OPTIONS)
def _gather_tiles(x, tile, zero, d):
    n, c, h, w = x.shape
    size, th, tw = tile + 2, d.shape[3], d.shape[4]
    for plane in prange(n * c):
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


@njit(**KERNEL_OPTIONS)
def _scatter_tiles(blocks, tile, y):
    n, o, h, w = y.shape
    for plane in prange(n * o):
        i, ch = plane // o, plane % o
        for row in range(h):
            for col in range(w):
                y[i, ch, row, col] = blocks[row % tile, col % tile, i, ch, row // tile, col // tile]


def scatter_tiles(blocks, h, w):
    """The output of ``winograd.untile_by_product`` from its blocks (m, m, N, O, th, tw): side by side, cropped."""
    tile, _, n, o = blocks.shape[:4]
    y = numpy.empty((n, o, h, w), dtype=blocks.dtype)
    _scatter_tiles(numpy.ascontiguousarray(blocks), tile, y)
    return y
