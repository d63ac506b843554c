"""``hadamard-bench --profile``'s column "products ms": an op's matrix products alone, at its own shapes.

A row's floor (``bench_profile``) takes every product at the rate of one large SGEMM. But a product's rate
depends on its shape: one Winograd component of a 256-channel map at 28×28 is a 256 × 256 by 256 × 196
product, a 1×1 convolution of 64 channels has a depth of 64, and OpenBLAS runs such products below its
large-product rate. So each call notes the products it gives ``matmul``, as the op gives them:

    (A's shape, whether A is a transposed view, B's shape)      e.g. forward  U[:, None] @ V
                                                                     backward Uᵀ[:, None] @ V(dy)

and after the passes each distinct product runs alone, ``matmul(A, B, out=C)`` on arrays of those shapes and
layouts, back to back (its operands in the cache), the median of a few runs. Summed over a row's calls this is
its products' time on this machine's BLAS: what the op would take if all its other work (tile transforms,
copies, the bias) cost nothing. What a row takes above it is that other work; the products themselves go
lower only with a faster BLAS or fewer products.

Only the products of the input gradient are noted backward: the explain pass's layers are frozen, with no
weight gradient. Ops whose products this module does not know (``Linear``, ``MatMul``: under a millisecond
in the pass) have none noted.
"""
import math
import time

import numpy


def products(fn, arrays, result, direction):
    """The products one call of the op ``fn`` gives ``matmul``: a list of (A's shape as multiplied, whether A is
    a transposed view, B's shape, dtype). ``arrays`` are the call's inputs (forward: x and the weights;
    backward: dy), ``result`` its outputs."""
    if not arrays or not isinstance(arrays[0], numpy.ndarray):
        return []
    return [(*product, arrays[0].dtype.str) for product in _products(fn, arrays, result, direction)]


def _products(fn, arrays, result, direction):
    name = type(fn).__name__
    if direction == "backward" and (not isinstance(result, tuple) or result[0] is None):
        return []  # no input gradient, so no product of it (a weight's gradient alone: never in the explain pass)
    if name == "WinogradConv2d":
        return _winograd(fn, arrays[0].shape, direction)
    if name == "PhaseConv2d" and hasattr(fn, "chunk"):  # its own path: columns over phase planes
        return _phase_conv(fn, direction)
    if name.endswith("Conv2d"):
        out_shape = result.shape if direction == "forward" else arrays[0].shape
        return _conv(fn.x_shape, fn.w_shape, getattr(fn, "groups", 1), out_shape, direction)
    return []


def _winograd(fn, shape, direction):
    """U[ξ] @ V[ξ] for every component ξ and image: (k, 1, O, C) by (k, N, C, tiles); backward Uᵀ (F(2×2)) or
    U′ (F(4×4)), (k, 1, C, O), by (k, N, O, tiles)."""
    k, o, c = fn.u.shape
    m = math.isqrt(k) - 2
    n, _, h, w = shape
    tiles = -(-h // m) * -(-w // m)
    if direction == "forward":
        return [((k, 1, o, c), False, (k, n, c, tiles))]
    return [((k, 1, c, o), fn.turned is None, (k, n, o, tiles))]


def _conv(x_shape, w_shape, groups, out_shape, direction):
    """``ops.conv.Conv2d``: W (G, O/G, K) @ cols (N, G, K, L); backward Wᵀ (G, K, O/G) @ dy (N, G, O/G, L)."""
    n, o, g = x_shape[0], w_shape[0], groups
    depth, length = math.prod(w_shape[1:]), out_shape[2] * out_shape[3]
    if direction == "forward":
        return [((g, o // g, depth), False, (n, g, depth, length))]
    return [((g, depth, o // g), True, (n, g, o // g, length))]


def _phase_conv(fn, direction):
    """``fast.phases.PhaseConv2d``, a slice of images at a time: W (O, K) @ cols (images, K, out_h·width);
    backward Wᵀ @ the extended dy."""
    o, depth = fn.w_shape[0], math.prod(fn.w_shape[1:])
    found = []
    for start in range(0, fn.x_shape[0], fn.chunk):
        images = min(fn.chunk, fn.x_shape[0] - start)
        length = fn._phases(images).length
        found.append(((o, depth), False, (images, depth, length)) if direction == "forward"
                     else ((depth, o), True, (images, o, length)))
    return found


def time_products(found, repeats=5):
    """{product: median seconds of ``matmul(A, B, out=C)`` alone} for each distinct product in ``found``."""
    rng = numpy.random.default_rng(0)
    seconds = {}
    for product in sorted(set(found)):
        a_shape, transposed, b_shape, dtype = product
        stored = a_shape[:-2] + a_shape[-2:][::-1] if transposed else a_shape  # Aᵀ is a view of a C array
        a = rng.standard_normal(stored, dtype=numpy.float32).astype(dtype, copy=False)
        a = a.swapaxes(-1, -2) if transposed else a
        b = rng.standard_normal(b_shape, dtype=numpy.float32).astype(dtype, copy=False)
        out = numpy.empty(numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]), dtype)
        runs = []
        for _ in range(repeats + 1):  # the first run not counted: it brings the operands into the cache
            start = time.perf_counter()
            numpy.matmul(a, b, out=out)
            runs.append(time.perf_counter() - start)
        seconds[product] = float(numpy.median(runs[1:]))
    return seconds
