"""Convolution by im2col + matmul (fast on BLAS and cuBLAS), zero padding, max pooling.

im2col: the columns cols[n, c, i, j, y, x] = x[n, c, s·y + i − p, s·x + j − p] (zero outside the
image), one slice copy per kernel offset (i, j), viewed as (N, C·kh·kw, Ho·Wo); then every output
pixel is one column dotted with the filters:
y = W.reshape(O, C·kh·kw) @ cols. A 1×1 convolution needs no columns at all: it is a matmul.
With G groups the channels split into G independent convolutions, C/G inputs → O/G outputs each
(G = C = O: depthwise, one k×k filter per channel): the same matmul, batched over the groups.
These are the reference ops; faster forms of the same convolution (Winograd, fused GPU kernels) are
in ``hadamard_min/fast/`` and are tested equal to these.
"""
import numpy

from hadamard_min.core.backend import array_module
from hadamard_min.core.function import Function


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
    n, c, h, w = x.shape
    p = padding
    out = xp.full((n, c, h + 2 * p, w + 2 * p), value, dtype=x.dtype)
    out[:, :, p:p + h, p:p + w] = x
    return out


def _overlap(out_size, size, offset, stride):
    """Outputs o in [first, stop) reading inside the input (0 ≤ o·stride + offset < size), and that slice."""
    first = max(0, (stride - 1 - offset) // stride)
    stop = max(first, min(out_size, (size - 1 - offset) // stride + 1))
    if stop == first:
        return first, stop, slice(0, 0)
    start = first * stride + offset
    return first, stop, slice(start, start + (stop - first - 1) * stride + 1, stride)


def im2col(x, kh, kw, stride, padding, out_h, out_w):
    """cols[n, c, i, j, y, x] = x[n, c, s·y + i − p, s·x + j − p] (zero outside): one copy per (i, j).

    Written straight from the input, with zeros only at the borders, so the padded input is never built.
    """
    xp = array_module(x)
    n, c, h, w = x.shape
    cols = xp.empty((n, c, kh, kw, out_h, out_w), dtype=x.dtype)
    for i in range(kh):
        y0, y1, rows = _overlap(out_h, h, i - padding, stride)
        for j in range(kw):
            x0, x1, columns = _overlap(out_w, w, j - padding, stride)
            dst = cols[:, :, i, j]
            dst[:, :, y0:y1, x0:x1] = x[:, :, rows, columns]
            dst[:, :, :y0] = 0
            dst[:, :, y1:] = 0
            dst[:, :, y0:y1, :x0] = 0
            dst[:, :, y0:y1, x1:] = 0
    return cols


def col2im(cols, shape, kh, kw, stride, padding):
    """The adjoint of im2col: add each window's column back to where it came from."""
    xp = array_module(cols)
    out_h, out_w = cols.shape[-2:]
    dx = xp.zeros(shape, dtype=cols.dtype)
    for i in range(kh):
        y0, y1, rows = _overlap(out_h, shape[2], i - padding, stride)
        for j in range(kw):
            x0, x1, columns = _overlap(out_w, shape[3], j - padding, stride)
            dx[:, :, rows, columns] += cols[:, :, i, j, y0:y1, x0:x1]
    return dx


class Conv2d(Function):
    """y[n,o] = Σ_{c,i,j} W[o,c,i,j] · xpad[n, g·C/G + c, s·y+i, s·x+j]  (+ b[o]), o in group g = o // (O/G).

    As im2col + matmul, batched over the G groups (W is (O, C/G, kh, kw); G = 1 is the plain convolution):
    y_g = W_g @ cols_g,  dW_g = Σ_n dy_g @ cols_gᵀ,  dcols_g = W_gᵀ @ dy_g,  dx = col2im(dcols),  db = Σ dy.
    The columns are kept for backward only when W needs a gradient (they are what dW needs).
    """

    im2col = staticmethod(im2col)   # the two array steps, as class attributes so that a faster
    col2im = staticmethod(col2im)   # form of this op (fast/conv.py) can swap them and nothing else
    groups = 1

    def forward(self, x, weight, bias=None):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        s, p, g = self.stride, self.padding, self.groups
        out_h, out_w = output_size(h, kh, s, p), output_size(w, kw, s, p)
        self.x_shape, self.w_shape = x.shape, weight.shape
        if kh == kw == 1 and p == 0:  # 1×1: the columns are the (strided) pixels themselves
            cols = x[:, :, ::s, ::s].reshape(n, g, c // g, out_h * out_w)
        else:
            cols = self.im2col(x, kh, kw, s, p, out_h, out_w).reshape(n, g, c // g * kh * kw, out_h * out_w)
        y = (weight.reshape(g, o // g, -1) @ cols).reshape(n, o, out_h, out_w)
        self.save(cols if self.needs_grad[1] else None, weight)
        if bias is not None:
            y += bias.reshape(1, o, 1, 1)  # in place: y is a new array
        return y

    def backward(self, dy):
        cols, weight = self.saved
        n, c = self.x_shape[:2]
        o, _, kh, kw = self.w_shape
        s, p, g = self.stride, self.padding, self.groups
        out_h, out_w = dy.shape[-2:]
        dy2 = dy.reshape(n, g, o // g, out_h * out_w)
        dx = dw = db = None
        if self.needs_grad[0]:
            dcols = weight.reshape(g, o // g, -1).transpose(0, 2, 1) @ dy2
            if kh == kw == 1 and p == 0:
                dx = dcols.reshape(n, c, out_h, out_w)
                if s != 1:
                    full = array_module(dy).zeros(self.x_shape, dtype=dy.dtype)
                    full[:, :, ::s, ::s] = dx
                    dx = full
            else:
                dx = self.col2im(dcols.reshape(n, c, kh, kw, out_h, out_w), self.x_shape, kh, kw, s, p)
        if self.needs_grad[1]:
            dw = (dy2 @ cols.swapaxes(-1, -2)).sum(axis=0).reshape(self.w_shape)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db


def same_padding(size, kernel, stride):
    """TensorFlow's "same" padding of one side: (before, after) with the output ⌈size/stride⌉ long.

    total = max((⌈size/s⌉ − 1)·s + k − size, 0), before = ⌊total/2⌋, after = total − before: for a stride
    of 2 on an even size the extra zero goes after (bottom/right), where PyTorch's symmetric padding differs.
    """
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Pad2d(Function):
    """y = x with zeros added: ``top`` rows above, ``bottom`` below, ``left``/``right`` columns (may differ).

    y[n, c, top + i, left + j] = x[n, c, i, j], zero elsewhere;  dx = dy[:, :, top:top+H, left:left+W].
    """

    def forward(self, x):
        n, c, h, w = x.shape
        t, b, l, r = self.top, self.bottom, self.left, self.right
        y = array_module(x).zeros((n, c, t + h + b, l + w + r), dtype=x.dtype)
        y[:, :, t:t + h, l:l + w] = x
        self.x_shape = x.shape
        return y

    def backward(self, dy):
        h, w = self.x_shape[2:]
        return (dy[:, :, self.top:self.top + h, self.left:self.left + w],)


TIE_WIDTH = 4  # in units of float32's ε·max|x|: window values this close to the window's maximum tie with it


def tie_tolerance(x):
    """τ = 4 ε max|x| for each image of x (N, C, H, W), as (N, 1, 1, 1): the width of a tie in a max-pool window.

    ε is float32's machine epsilon whatever x's dtype (a coarser dtype's own), so that float32 and float64
    call the same windows tied; max|x| is over the image's finite values, so that one inf does not make
    every window a tie; per image, so that an image's gradient is the same in any batch.
    """
    xp = array_module(x)
    eps = max(float(xp.finfo(x.dtype).eps), float(numpy.finfo(numpy.float32).eps))
    if not x.size:
        return xp.zeros((len(x), 1, 1, 1), dtype=x.dtype)
    largest = xp.maximum(x.max(axis=(1, 2, 3), keepdims=True), -x.min(axis=(1, 2, 3), keepdims=True))  # max|x|
    if not bool(xp.isfinite(largest).all()):  # rare: recomputed over the finite values only
        largest = xp.where(xp.isfinite(x), xp.abs(x), 0).max(axis=(1, 2, 3), keepdims=True)
    return (TIE_WIDTH * eps * largest).astype(x.dtype)


class MaxPool2d(Function):
    """y = max over each k×k window (stride s, padding with −∞);  dx = dy routed to the window's arg-max.

    Ties go to the first of them in the window (offset i·k + j in increasing order), and values within
    τ = 4 ε₃₂ max|x| of the maximum count as tied (``tie_tolerance``): on a flat image many windows hold equal
    values in exact arithmetic that float32 rounding has made differ by an ulp or two, one way with one BLAS
    kernel or thread count and another way with the next. Without the tolerance the gradient would go to
    whichever came out an ulp larger; with it, to the first of them on every machine, and float64 (whose τ is
    the same) calls the same windows tied. (A window where nothing reaches max − τ, a NaN's, routes to 0.)
    """

    def forward(self, x):
        xp = array_module(x)
        k, s, p = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        out_h, out_w = output_size(h, k, s, p), output_size(w, k, s, p)
        windows = _windows(pad2d(x, p, value=-xp.inf), k, k, s, out_h, out_w)
        windows = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, out_h, out_w, k * k)
        y = windows.max(axis=-1)
        self.argmax = (windows >= (y - tie_tolerance(x))[..., None]).argmax(axis=-1)  # the first tied
        self.x_shape = x.shape
        return y

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
