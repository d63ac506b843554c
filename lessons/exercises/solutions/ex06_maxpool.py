"""Exercise 6, the blank filled."""
import numpy


class MaxPool2d:
    def backward(self, dy):
        k, s, p = self.kernel, self.stride, self.padding
        n, c, h, w = self.x_shape
        out_h, out_w = dy.shape[-2:]
        dxpad = numpy.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dy.dtype)
        for i in range(k):
            for j in range(k):
                dxpad[:, :, i:i + s * out_h:s, j:j + s * out_w:s] += dy * (self.argmax == i * k + j)
        return (dxpad[:, :, p:p + h, p:p + w],)
