"""Exercise 6: the backward of max pooling (ResNet's stem).

y[n, c, y, x] = the largest value in the k×k window at (s·y, s·x) of the input padded with −∞ to
(N, C, H + 2p, W + 2p). The forward keeps, for each output, which of the k·k window positions won:
``self.argmax`` (N, C, Ho, Wo), with position a = i·k + j for row offset i and column offset j, and the
input's shape ``self.x_shape`` (N, C, H, W); H and W may differ.

Write ``backward(dy)``: dy is (N, C, Ho, Wo); return (dx,) with dx of the input's shape. Ask: which input
did each output depend on, and how much? What if the stride is smaller than k and windows overlap?
(Where two values tie for the maximum there is no derivative; the grader uses inputs without ties.)
ResNet's stem (``models/resnet.py``: 3×3, stride 2, padding 1) uses it; lesson 04 runs it in ResNet-152.

Check:  hadamard-exercises grade 6      (in the folder made by ``hadamard-exercises start DIR``)
"""
import numpy

from hadamard_min.core.function import Function
from hadamard_min.ops.conv import output_size, pad2d


class MaxPool2d(Function):
    """y = max over each k×k window (stride s, padding p with −∞)."""

    def forward(self, x):
        k, s, p = self.kernel, self.stride, self.padding
        h, w = x.shape[-2:]
        out_h, out_w = output_size(h, k, s, p), output_size(w, k, s, p)
        xpad = pad2d(x, p, value=-numpy.inf)
        windows = numpy.stack([xpad[:, :, i:i + s * out_h:s, j:j + s * out_w:s]
                               for i in range(k) for j in range(k)], axis=-1)   # (N, C, Ho, Wo, k·k)
        self.argmax = windows.argmax(axis=-1)
        self.x_shape = x.shape
        return windows.max(axis=-1)

    def backward(self, dy):
        raise NotImplementedError("exercise 6: write MaxPool2d.backward: (dx,) of the input's shape from dy (N, C, Ho, "
                                  "Wo) and self.argmax")
