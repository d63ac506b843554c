"""The fused CPU kernels of windows over phase planes (``fast/phases.py``): the max-pool both ways and the
adjoint of a strided convolution's columns, each a plane at a time.

Each splits one (H, W) plane into its s² phase planes (``Phases.split``), small enough to stay in the cache,
so that every window offset reads one contiguous range, a loop the compiler vectorises; then, backward,
merges them into dx (``Phases.merge``). The additions are the NumPy forms', in the same offset order, so
the numbers are the same to the last bit (``tests/test_max_pool_ties.py``, ``tests/test_kernels.py``).
"""
import numpy
from numba import njit

from hadamard_min.fast.cpu_compile import KERNEL_OPTIONS, units

__all__ = ["col2im", "max_pool", "max_pool_backward"]


@njit(**KERNEL_OPTIONS)
def _copy(image, s, p, width, planes, split):
    """The values an (H, W) plane shares with its phase planes (s², rows·width): copied into the planes
    (``split``: ``phases.Phases.split``, the planes holding the fill elsewhere) or back into the plane
    (``Phases.merge``, the plane holding 0 where no phase plane holds it)."""
    rows = planes.shape[1] // width
    for a in range(s):
        for b in range(s):
            for r in range(rows):
                y = s * r + a - p
                if 0 <= y < image.shape[0]:
                    for q in range(width):
                        if 0 <= s * q + b - p < image.shape[1]:
                            if split:
                                planes[a * s + b, r * width + q] = image[y, s * q + b - p]
                            else:
                                image[y, s * q + b - p] = planes[a * s + b, r * width + q]


@njit(**KERNEL_OPTIONS)
def _offset(planes, k, kernel, s, width, length):
    """The contiguous range of the phase planes that offset k = i·kernel + j reads (``Phases.offsets``)."""
    i, j = k // kernel, k % kernel
    start = (i // s) * width + j // s
    return planes[(i % s) * s + j % s, start:start + length]


def _phase_planes(phases, dtype):
    """The buffer a kernel splits each plane into: (s², rows·width) of ``phases``' geometry."""
    return numpy.empty((phases.stride ** 2, phases.rows * phases.width), dtype=dtype)


@njit(**KERNEL_OPTIONS)
def _max_pool(x, tau, kernel, s, p, width, lowest, planes, y, index):
    n, c, out_h, out_w = y.shape
    length = out_h * width
    best, tied = numpy.empty(length, dtype=x.dtype), numpy.empty(length, dtype=x.dtype)
    chosen = numpy.empty(length, dtype=numpy.int32)  # as wide as a float32 lane: a uint8 select vectorises badly
    for plane in range(n * c):
        i, ch = plane // c, plane % c
        planes[:] = lowest
        _copy(x[i, ch], s, p, width, planes, True)
        best[:] = lowest
        for k in range(kernel * kernel):                        # running maxima, as numpy.maximum: a NaN stays
            v = _offset(planes, k, kernel, s, width, length)
            for t in range(length):
                best[t] = best[t] if (best[t] >= v[t]) | (best[t] != best[t]) else v[t]
        y[i, ch] = best.reshape(out_h, width)[:, :out_w]
        if index.shape[0]:
            chosen[:] = 0
            for t in range(length):
                tied[t] = best[t] - tau[i]
            for k in range(kernel * kernel - 1, -1, -1):        # last to first: the first tied one is left
                v = _offset(planes, k, kernel, s, width, length)
                for t in range(length):
                    chosen[t] = k if v[t] >= tied[t] else chosen[t]
            index[plane] = chosen                               # k < 256: the same number in a byte


def max_pool(x, tau, phases):
    """(y, index) of ``phases.max_pool``, the index on the same extended grid; ``tau`` None: (y, None)."""
    x = numpy.ascontiguousarray(x)
    n, c = x.shape[:2]
    y = numpy.empty((n, c, phases.out_h, phases.out_w), dtype=x.dtype)
    index = numpy.empty((n * c if tau is not None else 0, phases.length), dtype=numpy.uint8)
    tau = numpy.zeros(n, dtype=x.dtype) if tau is None else numpy.ascontiguousarray(tau, dtype=x.dtype).reshape(n)
    planes = _phase_planes(phases, x.dtype)
    _max_pool(x, tau, phases.kernel, phases.stride, phases.padding, phases.width, x.dtype.type(-numpy.inf),
              planes, y, index)
    return y, (index if len(index) else None)


@njit(**KERNEL_OPTIONS)
def _max_pool_backward(dy, index, kernel, s, p, width, one, zero, planes, dx):
    n, c, out_h, out_w = dy.shape
    length = out_h * width
    d = numpy.empty(length, dtype=dy.dtype)              # dy on the extended grid: its extra columns 0, as there
    chosen = numpy.empty(length, dtype=numpy.int32)      # the index as wide as a float32 lane (vectorises)
    for plane in range(n * c):
        i, ch = plane // c, plane % c
        planes[:] = zero
        for oy in range(out_h):
            for ox in range(width):
                d[oy * width + ox] = dy[i, ch, oy, ox] if ox < out_w else zero
        chosen[:] = index[plane]
        for k in range(kernel * kernel):                        # offsets in k order, as the NumPy form adds
            target = _offset(planes, k, kernel, s, width, length)
            for t in range(length):
                target[t] += d[t] * (one if chosen[t] == k else zero)
        dx[i, ch] = zero
        _copy(dx[i, ch], s, p, width, planes, False)


def max_pool_backward(dy, index, phases):
    """dx of ``phases.max_pool_backward``: the same additions in the same order, a plane at a time."""
    dx = numpy.empty(phases.shape, dtype=dy.dtype)
    planes = _phase_planes(phases, dy.dtype)
    _max_pool_backward(numpy.ascontiguousarray(dy), index, phases.kernel, phases.stride, phases.padding,
                       phases.width, *units(dy), planes, dx)
    return dx


@njit(**KERNEL_OPTIONS)
def _col2im(cols, kernel, s, p, width, zero, planes, dx):
    for plane in range(cols.shape[0]):
        planes[:] = zero
        for k in range(kernel * kernel):                        # offsets in k order, as the NumPy form adds
            target, column = _offset(planes, k, kernel, s, width, cols.shape[2]), cols[plane, k]
            for t in range(cols.shape[2]):
                target[t] += column[t]
        dx[plane] = zero
        _copy(dx[plane], s, p, width, planes, False)


def col2im(cols, phases):
    """dx of ``phases.col2im``: (N, C·k², out_h·width) → (N, C, H, W), a plane at a time."""
    n, c = phases.shape[:2]
    dx = numpy.empty(phases.shape, dtype=cols.dtype)
    planes = _phase_planes(phases, cols.dtype)
    _col2im(numpy.ascontiguousarray(cols).reshape(n * c, phases.kernel ** 2, phases.length), phases.kernel,
            phases.stride, phases.padding, phases.width, units(cols)[1], planes, dx.reshape(n * c, *phases.shape[2:]))
    return dx
