"""Reference ops with their array work done by fused CUDA kernels on a GPU (the same numbers, fewer launches).

Each class subclasses its reference op and changes only how the arrays are computed: by a kernel for CuPy
float arrays (``cuda_kernels.fused``). Otherwise ``FusedReLU`` takes the one-pass Numba kernels where they
are installed (``compiled.cpu``), else the fewer-pass forms of ``fast/elementwise.py``, and ``FusedConv2d``
*is* the reference op.
"""
from hadamard_min.fast import compiled, cuda_kernels, elementwise
from hadamard_min.ops.conv import Conv2d, col2im, im2col
from hadamard_min.ops.relu import ReLU, current_relu_rule, rule_for_backward


class FusedReLU(ReLU):
    """``ops.relu.ReLU``, each direction one kernel on a GPU, two passes without casts on the CPU."""

    def forward(self, x):
        self.rule = current_relu_rule()
        y, mask = _forms(x).relu_forward(x)
        self.save(mask)
        return y

    def backward(self, dy):
        (mask,) = self.saved
        return (_forms(dy).relu_backward(dy, mask, rule_for_backward(self.rule)),)


def _forms(array):
    """Where a ReLU's arrays are computed: CUDA kernels, Numba kernels or NumPy (the mask is packed alike)."""
    return cuda_kernels if cuda_kernels.fused(array) else compiled.cpu(array) or elementwise


def fused_im2col(x, kh, kw, stride, padding, out_h, out_w):
    """``ops.conv.im2col``, one kernel on a GPU."""
    if cuda_kernels.fused(x):
        return cuda_kernels.im2col(x, kh, kw, stride, padding, out_h, out_w)
    return im2col(x, kh, kw, stride, padding, out_h, out_w)


def fused_col2im(cols, shape, kh, kw, stride, padding):
    """``ops.conv.col2im``, one kernel on a GPU (each pixel gathers the columns that read it)."""
    if cuda_kernels.fused(cols):
        return cuda_kernels.col2im(cols, shape, kh, kw, stride, padding)
    return col2im(cols, shape, kh, kw, stride, padding)


class FusedConv2d(Conv2d):
    """``ops.conv.Conv2d`` with im2col and col2im as one kernel each on a GPU."""

    im2col = staticmethod(fused_im2col)
    col2im = staticmethod(fused_col2im)
