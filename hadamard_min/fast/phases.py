"""Strided windows as contiguous slices: convolution with stride > 1 and max pooling over phase planes.

A k×k window with stride s and padding p reads xpad[s·y + i, s·x + j] for output (y, x) and offset (i, j).
Split the padded input into its s² phases P_ab[r, q] = xpad[s·r + a, s·q + b] (one strided copy, made once):
offset (i, j) reads phase (i mod s, j mod s) at (y + i div s, x + j div s), a plain shift. Flatten each
phase plane, of width Wp: for every output at once, with x running over all Wp columns instead of the Wo
real ones, offset (i, j) reads ONE contiguous range of the flat plane, starting at (i div s)·Wp + j div s.
So im2col is k² contiguous copies and col2im k² contiguous additions, however short the rows (the
reference's strided copies of short rows are bound by NumPy's per-row overhead, its additions by strided
read-modify-writes). The Wp − Wo extra columns per row are cut off after the forward product and fed
zeros backward.
"""
import numpy

from hadamard_min.core.backend import array_module
from hadamard_min.fast import compiled, cuda_kernels
from hadamard_min.fast.fused import FusedConv2d
from hadamard_min.ops.conv import MaxPool2d, output_size, tie_tolerance


class Phases:
    """The phase planes of an (N, C, H, W) input for a kernel×kernel window with ``stride`` and ``padding``."""

    def __init__(self, shape, kernel, stride, padding):
        self.shape, self.kernel, self.stride, self.padding = tuple(shape), kernel, stride, padding
        h, w = self.shape[2:]
        self.out_h, self.out_w = output_size(h, kernel, stride, padding), output_size(w, kernel, stride, padding)
        reach = (kernel - 1) // stride
        self.rows, self.width = self.out_h + reach + 1, self.out_w + reach  # one more row: the last read's tail
        self.length = self.out_h * self.width                              # one offset's contiguous range

    def offsets(self):
        """(phase index a·s + b, start of its range in the flat plane) for each offset (i, j), row-major."""
        s, k = self.stride, self.kernel
        return [((i % s) * s + j % s, (i // s) * self.width + j // s) for i in range(k) for j in range(k)]

    def _interior(self, a, b):
        """(plane rows, plane columns, input rows, input columns) where phase (a, b) holds the input."""
        s, p = self.stride, self.padding
        h, w = self.shape[2:]
        found = []
        for phase, size, limit in ((a, h, self.rows), (b, w, self.width)):
            first = -(-(p - phase) // s)                                  # s·r + phase ≥ p
            stop = max(first, min(limit, (p + size - 1 - phase) // s + 1))  # s·r + phase < p + size
            start = s * first + phase - p
            found.append((slice(first, stop), slice(start, start + s * (stop - first), s)))
        (rows, input_rows), (columns, input_columns) = found
        return rows, columns, input_rows, input_columns

    def split(self, x, fill=0.0):
        """The planes (s², N·C, rows·width): x's phases, ``fill`` outside the input."""
        xp = array_module(x)
        n, c = self.shape[:2]
        s = self.stride
        planes = xp.full((s * s, n * c, self.rows, self.width), fill, dtype=x.dtype)
        x = x.reshape(n * c, *self.shape[2:])
        for a in range(s):
            for b in range(s):
                rows, columns, input_rows, input_columns = self._interior(a, b)
                planes[a * s + b, :, rows, columns] = x[:, input_rows, input_columns]
        return planes.reshape(s * s, n * c, -1)

    def merge(self, planes):
        """The (N, C, H, W) input gradient held by ``planes`` (the adjoint of ``split``)."""
        xp = array_module(planes)
        s = self.stride
        dx = xp.zeros(self.shape, dtype=planes.dtype)  # inputs that no window reads get no gradient
        flat = dx.reshape(-1, *self.shape[2:])
        planes = planes.reshape(s * s, -1, self.rows, self.width)
        for a in range(s):
            for b in range(s):
                rows, columns, input_rows, input_columns = self._interior(a, b)
                flat[:, input_rows, input_columns] = planes[a * s + b, :, rows, columns]
        return dx

    def crop(self, extended):
        """(..., out_h·width) → (..., out_h, out_w): the real outputs of an extended grid."""
        return extended.reshape(*extended.shape[:-1], self.out_h, self.width)[..., :self.out_w]

    def extend(self, dy):
        """(..., out_h, out_w) → (..., out_h·width), zeros in the extra columns."""
        xp = array_module(dy)
        extended = xp.zeros((*dy.shape[:-2], self.out_h, self.width), dtype=dy.dtype)
        extended[..., :self.out_w] = dy
        return extended.reshape(*dy.shape[:-2], self.length)


def im2col(x, phases):
    """The columns (N, C·k², out_h·width) of x on the extended grid: k² contiguous copies."""
    xp = array_module(x)
    n, c = phases.shape[:2]
    planes = phases.split(x)
    cols = xp.empty((n * c, phases.kernel ** 2, phases.length), dtype=x.dtype)
    for k, (phase, start) in enumerate(phases.offsets()):
        cols[:, k] = planes[phase, :, start:start + phases.length]
    return cols.reshape(n, c * phases.kernel ** 2, phases.length)


def col2im(cols, phases):
    """The adjoint of ``im2col``: (N, C·k², out_h·width) → (N, C, H, W), k² contiguous additions."""
    if cpu := compiled.cpu(cols):
        return cpu.col2im(cols, phases)
    xp = array_module(cols)
    n, c = phases.shape[:2]
    s = phases.stride
    planes = xp.zeros((s * s, n * c, phases.rows * phases.width), dtype=cols.dtype)
    cols = cols.reshape(n * c, phases.kernel ** 2, phases.length)
    for k, (phase, start) in enumerate(phases.offsets()):
        planes[phase, :, start:start + phases.length] += cols[:, k]
    return phases.merge(planes)


def max_pool(x, phases, index=True):
    """(y, index): the maximum over each window and the first offset k whose value is tied with it (uint8):
    within τ = ``ops.conv.tie_tolerance(x)``, as the reference op. The maxima first; then the offsets from
    the last to the first, index ← index − (index − k)·[v_k ≥ max − τ] in bytes (mod 256: k < 256), so that
    the first tied one is left, and 0 where none is (a NaN's window, as the reference's arg-max).
    ``index=False``: the maxima only (y, None), for a forward pass with no backward."""
    if cpu := compiled.cpu(x):
        return cpu.max_pool(x, tie_tolerance(x) if index else None, phases)
    xp = array_module(x)
    n, c = phases.shape[:2]
    planes = phases.split(x, fill=-xp.inf)
    offsets = phases.offsets()
    best = xp.full((n * c, phases.length), -xp.inf, dtype=x.dtype)
    for phase, start in offsets:
        xp.maximum(best, planes[phase, :, start:start + phases.length], out=best)
    if not index:
        return phases.crop(best).reshape(n, c, phases.out_h, phases.out_w), None
    tied = (best.reshape(n, c, -1) - tie_tolerance(x).reshape(n, 1, 1)).reshape(n * c, -1)
    index = xp.zeros(best.shape, dtype=numpy.uint8)
    hit, step = xp.empty(best.shape, dtype=bool), xp.empty(best.shape, dtype=numpy.uint8)
    for k in range(len(offsets) - 1, -1, -1):
        phase, start = offsets[k]
        xp.greater_equal(planes[phase, :, start:start + phases.length], tied, out=hit)
        xp.subtract(index, numpy.uint8(k), out=step)  # wraps around where index < k: the sum below unwraps it
        xp.multiply(step, hit.view(numpy.uint8), out=step)
        xp.subtract(index, step, out=index)
    return phases.crop(best).reshape(n, c, phases.out_h, phases.out_w), index


def max_pool_backward(dy, index, phases):
    """dx: each output's dy added to the input at its window's winning offset, offsets in k order."""
    if cpu := compiled.cpu(dy):
        return cpu.max_pool_backward(dy, index, phases)
    xp = array_module(dy)
    n, c = phases.shape[:2]
    s = phases.stride
    dy = phases.extend(dy.reshape(n * c, phases.out_h, phases.out_w))
    planes = xp.zeros((s * s, n * c, phases.rows * phases.width), dtype=dy.dtype)
    hit, routed = xp.empty(index.shape, dtype=bool), xp.empty(dy.shape, dtype=dy.dtype)
    for k, (phase, start) in enumerate(phases.offsets()):
        xp.equal(index, numpy.uint8(k), out=hit)
        xp.multiply(dy, hit, out=routed)
        planes[phase, :, start:start + phases.length] += routed
    return phases.merge(planes)


class PhaseConv2d(FusedConv2d):
    """``ops.conv.Conv2d`` with stride > 1 and a k×k kernel (k > 1), its columns made over phase planes on
    the CPU (the module's docstring); on a GPU, and for 1×1 kernels, ``FusedConv2d``.

    y = crop(W @ cols),  dcols = Wᵀ @ extend(dy),  dx = col2im(dcols),  dW = extend(dy) @ colsᵀ,  db = Σ dy.

    Without dW (a frozen layer) the columns are not kept, and a batch is taken a few images at a time, so
    that each slice of columns (k²·C times the output) is still in the cache when the product reads it.
    """

    def forward(self, x, weight, bias=None):
        o, _, kh, kw = weight.shape
        if cuda_kernels.fused(x) or kh != kw or kh == 1 or self.groups != 1:
            return super().forward(x, weight, bias)
        self.x_shape, self.w_shape = x.shape, weight.shape
        self.chunk = _chunk(x, kh, self.stride) if not self.needs_grad[1] else len(x)
        matrix, phases = weight.reshape(o, -1), self._phases(self.chunk)
        y = array_module(x).empty((len(x), o, phases.out_h, phases.out_w), dtype=x.dtype)
        for start in range(0, len(x), self.chunk):
            part = x[start:start + self.chunk]
            cols = im2col(part, phases if len(part) == self.chunk else self._phases(len(part)))
            y[start:start + self.chunk] = phases.crop(matrix @ cols)
        self.save(cols if self.needs_grad[1] else None, weight)
        if bias is not None:
            y += bias.reshape(1, o, 1, 1)
        return y

    def backward(self, dy):
        if not hasattr(self, "chunk"):
            return super().backward(dy)
        cols, weight = self.saved
        matrix = weight.reshape(len(weight), -1)
        dx = dw = db = None
        if self.needs_grad[0]:
            dx = array_module(dy).empty(self.x_shape, dtype=dy.dtype)
            for start in range(0, len(dy), self.chunk):
                phases = self._phases(len(dy[start:start + self.chunk]))
                dx[start:start + self.chunk] = col2im(matrix.T @ phases.extend(dy[start:start + self.chunk]), phases)
        if self.needs_grad[1]:
            extended = self._phases(len(dy)).extend(dy)
            dw = (extended @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(weight.shape)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db

    def _phases(self, images):
        return Phases((images, *self.x_shape[1:]), self.w_shape[2], self.stride, self.padding)


CACHE_BYTES = 4 << 20  # a slice of columns this large stays in a core's share of the cache


def _chunk(x, kernel, stride):
    """Images per slice: as many as keep their columns, k²·C·H·W/s² values each, within ``CACHE_BYTES``."""
    per_image = kernel * kernel * x[0].size * x.itemsize // (stride * stride)
    return max(1, min(len(x), CACHE_BYTES // max(per_image, 1)))


class FastMaxPool2d(MaxPool2d):
    """``ops.conv.MaxPool2d`` as k² running maxima over phase planes: y = max over each window, dx = dy routed
    to the first offset of its window tied with the maximum, as the reference's, the same numbers bit for bit.

    The winning offset is found after the maxima: offsets visited in decreasing order k = i·K + j, each one
    taken where v_k ≥ max − τ, leave the first tied one, one byte per output.
    """

    def forward(self, x):
        self.phases = None
        if x.size == 0 or self.kernel ** 2 > 256:  # nothing to pool, or offsets past a byte: the reference
            return super().forward(x)
        self.phases = Phases(x.shape, self.kernel, self.stride, self.padding)
        y, self.index = max_pool(x, self.phases, index=self.record)  # no graph: no winners to keep
        return y

    def backward(self, dy):
        if self.phases is None:
            return super().backward(dy)
        return (max_pool_backward(dy, self.index, self.phases),)
