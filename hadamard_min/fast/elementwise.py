"""ReLU and max pooling in fewer passes over memory: the reference ops' numbers, for NumPy arrays (and CuPy
arrays that no fused kernel takes, ``fast/fused.py``).

On a CPU these ops are bound by memory, not arithmetic: each NumPy call reads and writes whole arrays, and
a cast (bool → float) or a gather of strided windows costs several passes. So:

    op            reference (ops/)                         here
    ReLU forward  m = [x > 0]; y = x · m   (float·bool cast) y = max(x, 0); m = [x > 0]
    guided back   dx = dy · (m ∧ [dy > 0])  (3 passes)      dx = max(dy, 0) · m
    max-pool      copy of all k² windows, argmax, gather    k² running maxima over strided views, the
                                                            winning offset kept as one byte per output

The max-pool keeps, per output, the offset k = k_y·K + k_x of the first maximum of its window (as the
reference's argmax does): offsets are visited in increasing order and a later one wins only where it is
strictly larger, so index = max(index, k · [v_k > running max]). Backward adds dy to the input under each
output's winning offset, offsets in the same order as the reference, so the sums are the same bit for bit.
"""
import numpy

from hadamard_min.core.backend import array_module
from hadamard_min.ops.conv import MaxPool2d, output_size, overlap


def relu_forward(x):
    """(y, mask) of ``ops.relu.ReLU.forward``: y = max(x, 0), mask = [x > 0]."""
    xp = array_module(x)
    return xp.maximum(x, 0), x > 0


def relu_backward(dy, mask, rule):
    """dx of ``ops.relu.ReLU.backward`` for ``rule``: dy·m (gradient), max(dy, 0)·m (guided), max(dy, 0)."""
    xp = array_module(dy)
    if rule == "gradient":
        return dy * mask
    passed = xp.maximum(dy, 0)
    return passed * mask if rule == "guided" else passed


def _taps(size, out_size, kernel, stride, padding):
    """For each window offset i: (phase, first output, stop output, the rows of that phase they read).

    Input row s·o + i − p lies in phase a = (i − p) mod s, row o + (i − p) // s of that phase.
    """
    taps = []
    for i in range(kernel):
        first, stop, _ = overlap(out_size, size, i - padding, stride)
        shift = (i - padding) // stride
        taps.append(((i - padding) % stride, first, stop, slice(first + shift, stop + shift)))
    return taps


class FastMaxPool2d(MaxPool2d):
    """``ops.conv.MaxPool2d`` as k² running maxima: y = max over each window, dx = dy routed to the first
    maximum of its window (see the module's docstring).

    The input is first split into its s×s phases x[:, :, a::s, b::s] (one copy), so that every offset of
    the window reads a contiguous slice of one phase instead of a strided view.
    """

    def forward(self, x):
        xp = array_module(x)
        k, s, p = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        out_h, out_w = output_size(h, k, s, p), output_size(w, k, s, p)
        y = xp.full((n, c, out_h, out_w), -xp.inf, dtype=x.dtype)
        index = xp.zeros((n, c, out_h, out_w), dtype=numpy.uint8)
        rows, columns = _taps(h, out_h, k, s, p), _taps(w, out_w, k, s, p)
        phases = {(a, b): xp.ascontiguousarray(x[:, :, a::s, b::s]) for a, *_ in rows for b, *_ in columns}
        for i, (a, y0, y1, row) in enumerate(rows):
            for j, (b, x0, x1, column) in enumerate(columns):
                values, best = phases[a, b][:, :, row, column], y[:, :, y0:y1, x0:x1]
                if i * k + j:
                    xp.maximum(index[:, :, y0:y1, x0:x1], (values > best) * numpy.uint8(i * k + j),
                               out=index[:, :, y0:y1, x0:x1])
                xp.maximum(best, values, out=best)
        self.index, self.x_shape = index, x.shape
        return y

    def backward(self, dy):
        xp = array_module(dy)
        k, s, p = self.kernel, self.stride, self.padding
        h, w = self.x_shape[2:]
        rows, columns = _taps(h, dy.shape[2], k, s, p), _taps(w, dy.shape[3], k, s, p)
        phases = {}
        for i, (a, y0, y1, row) in enumerate(rows):
            for j, (b, x0, x1, column) in enumerate(columns):
                if (a, b) not in phases:
                    phases[a, b] = xp.zeros(self.x_shape[:2] + ((h - a + s - 1) // s, (w - b + s - 1) // s),
                                            dtype=dy.dtype)
                won = self.index[:, :, y0:y1, x0:x1] == i * k + j
                phases[a, b][:, :, row, column] += dy[:, :, y0:y1, x0:x1] * won
        dx = xp.zeros(self.x_shape, dtype=dy.dtype)
        for (a, b), phase in phases.items():
            dx[:, :, a::s, b::s] = phase
        return (dx,)
