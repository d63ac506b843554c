"""Exercise 6: the backward of max pooling (ResNet's stem).

y[n, c, y, x] = the largest value in the k×k window at (s·y, s·x) of the (−∞-padded) input. The forward
keeps, for each output, which of the k·k window positions won: ``self.argmax`` (N, C, Ho, Wo), with
position a = i·k + j for row offset i and column offset j.

Only the winner moved the output, so the gradient goes there, and nowhere else:
    dxpad[n, c, s·y + i, s·x + j] += dy[n, c, y, x]   where argmax[n, c, y, x] == i·k + j
Windows overlap when s < k: a pixel that wins two windows collects both (``+=``). Cut the padding off.
(Where two values tie for the maximum there is no derivative; the tests use inputs without ties.)

Check:  python -m pytest lessons/exercises/test_ex06_maxpool.py
"""
import numpy

from hadamard_min.core.function import Function
from hadamard_min.ops.conv import output_size, pad2d


class MaxPool2d(Function):
    """y = max over each k×k window (stride s, padding p with −∞);  dx = dy routed to the arg-max."""

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
        raise NotImplementedError("exercise 6: MaxPool2d.backward — zeros of the padded shape; for each "
                                  "window position (i, j) add dy · [argmax == i·k + j] at its strided slice")
