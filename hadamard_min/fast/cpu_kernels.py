"""Fused CPU kernels (Numba, the optional extra ``.[fast]``): an op's array work in one pass over memory.

The NumPy fast forms (``fast/elementwise.py``, ``fast/winograd.py``) are the definition: each kernel here
computes the same numbers in the same order of operations, so the two agree to the last bit, and the same
tests check both (``tests/conftest.py``'s ``cpu_forms`` runs the fast path's tests each way). The one
exception is F(4×4)'s transforms, which the NumPy form computes as SGEMMs (``cpu_winograd.py`` says why).

    kernel             computes                                                      instead of
    relu_forward       y = max(x, 0) and the mask [x > 0] packed into bits             3 passes
    relu_backward      dy·m | max(dy, 0)·m | max(dy, 0), the mask unpacked on the fly  2–3 passes
    winograd_inputs    Bᵀ d B for every F(2×2) tile, a row of tiles at a time, into V   pad + 10 passes
                       (``cpu_winograd.py``, as the next three)
    winograd_outputs   Aᵀ M A for every F(2×2) tile, a row of tiles at a time, cropped 8–9 passes + crop
    winograd4_inputs   Bᵀ d B for every F(4×4) tile, rows then columns, into V          pad, gather, SGEMM
    winograd4_outputs  Aᵀ M A + b for every F(4×4) tile, rows then columns, cropped    SGEMM + scatter
    max_pool           the window maxima and the first offset tied with each, a plane   k² + 4k² passes
                       at a time over its phase planes (``cpu_windows.py``)
    max_pool_backward  dy routed to the winners in offset order, merged into dx         2k² passes + merge
    col2im             a strided convolution's columns added up the same way            k² passes + merge

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
from hadamard_min.fast.cpu_winograd import winograd4_inputs, winograd4_outputs, winograd_inputs, winograd_outputs

__all__ = ["col2im", "max_pool", "max_pool_backward", "relu_backward", "relu_forward", "winograd4_inputs",
           "winograd4_outputs", "winograd_inputs", "winograd_outputs"]
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


def load(dtype):
    """Every kernel called once on a small ``dtype`` array: its compiled code loaded (or compiled) now."""
    x = numpy.ones((1, 1, 4, 4), dtype=dtype)
    y, mask = relu_forward(x)
    relu_backward(y, mask, "guided")
    winograd_outputs(winograd_inputs(x, False), 4, 4, False)
    winograd4_outputs(winograd4_inputs(x), 4, 4, numpy.ones(1, dtype=dtype))
    phases = types.SimpleNamespace(shape=x.shape, kernel=3, stride=2, padding=1, out_h=2, out_w=2, rows=4,
                                   width=3, length=6)  # ``phases.Phases(x.shape, 3, 2, 1)``'s geometry
    pooled, index = max_pool(x, numpy.zeros(1, dtype=dtype), phases)
    max_pool(x, None, phases)
    max_pool_backward(pooled, index, phases)
    col2im(numpy.ones((1, 9, phases.length), dtype=dtype), phases)
