"""Exercise 5: the backward of a convolution, through col2im.

The forward (lesson 03) copies every kh×kw window of the zero-padded input into the columns

    cols[n, c, i, j, y, x] = xpad[n, c, s·y + i, s·x + j]          (``im2col``, given)

and multiplies them by the filters. Going back, the gradient of the columns, dcols = Wᵀ @ dy, has to go
back to where each entry was copied from. One pixel was copied into several windows, so its gradient is
the *sum* of those entries: that is ``col2im``, the adjoint of im2col.

Write ``col2im(dcols, shape, kh, kw, stride, padding)`` → dx of ``shape`` (N, C, H, W):
  1. start from zeros of the padded shape (N, C, H + 2p, W + 2p);
  2. for each kernel offset (i, j): add dcols[:, :, i, j] (an Ho×Wo grid) into the pixels that window
     offset read, rows i, i + s, …, i + s·(Ho − 1) and columns j, j + s, …  (a strided slice, ``+=``);
  3. cut the padding off.

Check:  python -m pytest lessons/exercises/test_ex05_conv_col2im.py
"""
import numpy

from hadamard_min.core.function import Function
from hadamard_min.ops.conv import im2col, output_size


def col2im(dcols, shape, kh, kw, stride, padding):
    """The adjoint of im2col: each entry of ``dcols`` (N, C, kh, kw, Ho, Wo) added back to its pixel."""
    raise NotImplementedError("exercise 5: col2im — zeros of the padded shape, then for each (i, j): "
                              "dxpad[:, :, i:i + s·Ho:s, j:j + s·Wo:s] += dcols[:, :, i, j]; cut the padding")


class Conv2d(Function):
    """y[n, o] = Σ_{c,i,j} W[o,c,i,j] · xpad[n, c, s·y+i, s·x+j];  dW = dy @ colsᵀ,  dx = col2im(Wᵀ @ dy)."""

    def forward(self, x, weight):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        s, p = self.stride, self.padding
        out_h, out_w = output_size(h, kh, s, p), output_size(w, kw, s, p)
        cols = im2col(x, kh, kw, s, p, out_h, out_w).reshape(n, c * kh * kw, out_h * out_w)
        self.save(cols, weight, x.shape)
        return (weight.reshape(o, -1) @ cols).reshape(n, o, out_h, out_w)

    def backward(self, dy):
        cols, weight, x_shape = self.saved
        n, c = x_shape[:2]
        o, _, kh, kw = weight.shape
        out_h, out_w = dy.shape[-2:]
        dy2 = dy.reshape(n, o, out_h * out_w)
        dcols = (weight.reshape(o, -1).T @ dy2).reshape(n, c, kh, kw, out_h, out_w)
        dx = col2im(dcols, x_shape, kh, kw, self.stride, self.padding)
        dw = numpy.einsum("nop,nkp->ok", dy2, cols).reshape(weight.shape)
        return dx, dw
