"""Exercise 5: the backward of a convolution, through col2im.

The forward (lesson 03; like every deep-learning library it computes a cross-correlation and calls it a
convolution) copies every kh×kw window of the zero-padded input xpad (N, C, H + 2p, W + 2p) into columns

    cols[n, c, i, j, y, x] = xpad[n, c, s·y + i, s·x + j]          (``im2col``, given; Ho × Wo windows)

and multiplies them by the filters. The backward gets dcols = ∂L/∂cols of the same shape
(N, C, kh, kw, Ho, Wo) and must return dx = ∂L/∂x of ``shape`` (N, C, H, W): that is ``col2im``, the
adjoint of im2col. Ask: which entries of cols are copies of one pixel, and what is the gradient of a
value that was copied several times? H and W may differ, and so may kh and kw; the stride s and padding p
are any the forward accepts. ResNet's every layer (the image side of eq. 2's ∂V/∂I) goes back this way.

Check:  hadamard-exercises grade 5      (in the folder made by ``hadamard-exercises start DIR``)
"""
import numpy

from hadamard_min.core.function import Function
from hadamard_min.ops.conv import im2col, output_size


def col2im(dcols, shape, kh, kw, stride, padding):
    """dx (``shape`` = (N, C, H, W)) from ``dcols`` (N, C, kh, kw, Ho, Wo): the adjoint of im2col."""
    raise NotImplementedError("exercise 5: write col2im: dx of shape (N, C, H, W) from dcols (N, C, kh, kw, Ho, Wo), "
                              "the adjoint of im2col")


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
