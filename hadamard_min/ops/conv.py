"""Convolution by im2col + matmul (fast on BLAS and cuBLAS), max pooling.

im2col: a strided *view* of the padded input, shape (N, C, kh, kw, Ho, Wo), copied once into
columns (N, C·kh·kw, Ho·Wo); then every output pixel is one column dotted with the filters:
y = W.reshape(O, C·kh·kw) @ cols. A 1×1 convolution needs no columns at all: it is a matmul.
"""
from ..backend import array_module
from ..engine import Function


def _windows(xpad, kh, kw, stride, out_h, out_w):
    """The (N, C, kh, kw, Ho, Wo) view of all kh×kw windows of ``xpad`` (no copy)."""
    xp = array_module(xpad)
    n, c, _, _ = xpad.shape
    sn, sc, sh, sw = xpad.strides
    return xp.lib.stride_tricks.as_strided(
        xpad, (n, c, kh, kw, out_h, out_w), (sn, sc, sh, sw, sh * stride, sw * stride))


def output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def pad2d(x, padding, value=0.0):
    if padding == 0:
        return x
    xp = array_module(x)
    p = padding
    return xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


def col2im(cols, shape, kh, kw, stride, padding):
    """The adjoint of im2col: add each window's column back to where it came from."""
    xp = array_module(cols)
    n, c, h, w = shape
    out_h, out_w = cols.shape[-2:]
    dxpad = xp.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxpad[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride] += cols[:, :, i, j]
    return dxpad[:, :, padding:padding + h, padding:padding + w]


class Conv2d(Function):
    """y[n,o] = Σ_{c,i,j} W[o,c,i,j] · xpad[n, c, s·y+i, s·x+j]  (+ b[o]), as im2col + matmul.

    dW = dy @ colsᵀ,  dcols = Wᵀ @ dy,  dx = col2im(dcols),  db = Σ dy.
    Columns are kept for backward only when W needs a gradient.
    """

    def forward(self, x, weight, bias=None):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        s, p = self.stride, self.padding
        out_h, out_w = output_size(h, kh, s, p), output_size(w, kw, s, p)
        self.x_shape, self.w_shape = x.shape, weight.shape
        w2 = weight.reshape(o, -1)
        if kh == kw == 1 and p == 0:  # 1×1: the columns are the (strided) pixels themselves
            cols = x[:, :, ::s, ::s].reshape(n, c, out_h * out_w)
        else:
            cols = _windows(pad2d(x, p), kh, kw, s, out_h, out_w).reshape(n, c * kh * kw, out_h * out_w)
        y = (w2 @ cols).reshape(n, o, out_h, out_w)
        self.save(cols if self.needs_grad[1] else None, weight)
        return y + bias.reshape(1, o, 1, 1) if bias is not None else y

    def backward(self, dy):
        cols, weight = self.saved
        n, c = self.x_shape[:2]
        o, _, kh, kw = self.w_shape
        s, p = self.stride, self.padding
        out_h, out_w = dy.shape[-2:]
        dy2 = dy.reshape(n, o, out_h * out_w)
        dx = dw = db = None
        if self.needs_grad[0]:
            dcols = weight.reshape(o, -1).T @ dy2
            if kh == kw == 1 and p == 0:
                xp = array_module(dy)
                dx = dcols.reshape(n, c, out_h, out_w)
                if s != 1:
                    full = xp.zeros(self.x_shape, dtype=dy.dtype)
                    full[:, :, ::s, ::s] = dx
                    dx = full
            else:
                dx = col2im(dcols.reshape(n, c, kh, kw, out_h, out_w), self.x_shape, kh, kw, s, p)
        if self.needs_grad[1]:
            dw = (dy2 @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(self.w_shape)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db


class MaxPool2d(Function):
    """y = max over each k×k window (stride s, padding with −∞);  dx = dy routed to the arg-max.

    Ties go to the first maximum in the window, as in PyTorch.
    """

    def forward(self, x):
        xp = array_module(x)
        k, s, p = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        out_h, out_w = output_size(h, k, s, p), output_size(w, k, s, p)
        windows = _windows(pad2d(x, p, value=-xp.inf), k, k, s, out_h, out_w)
        windows = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, out_h, out_w, k * k)
        self.argmax = windows.argmax(axis=-1)
        self.x_shape = x.shape
        return xp.take_along_axis(windows, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, dy):
        xp = array_module(dy)
        k, s, p = self.kernel, self.stride, self.padding
        n, c, h, w = self.x_shape
        out_h, out_w = dy.shape[-2:]
        dxpad = xp.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dy.dtype)
        for i in range(k):
            for j in range(k):
                routed = dy * (self.argmax == i * k + j)
                dxpad[:, :, i:i + s * out_h:s, j:j + s * out_w:s] += routed
        return (dxpad[:, :, p:p + h, p:p + w],)
