"""Inference forms of a frozen network's convolutions: batch norm folded in, 3×3 filters pre-transformed.

Batch-norm folding. In eval mode a batch norm is affine per channel, bn(z) = s ∘ z + t with
s = γ / √(σ² + ε) and t = β − μ s. After a convolution, bn(conv(x, W) + b) = conv(x, s·W) + (t + s·b):
one op instead of two, forward and backward, and the same values reach every ReLU (so guided masks are
unchanged). Only valid while the weights cannot change: for a frozen model (``Module.freeze()``).

Winograd. A folded 3×3, stride-1, padding-1 convolution then runs as F(m×m, 3×3) (``fast/winograd.py``)
with its filters' transform U = G g Gᵀ computed once (and U′, that of the turned filters, for F(4×4));
the folded 3×3 filters themselves are not kept.

The convolution layer that owns the weights owns its ``InferenceForm`` too: it is built on the first frozen
forward and dropped by ``Conv2d.weights_may_change()`` (training, unfreezing, loading, moving the model).
"""
from dataclasses import dataclass

from hadamard_min.core.backend import array_module
from hadamard_min.core.tensor import Tensor
from hadamard_min.fast import cuda_kernels, winograd
from hadamard_min.fast.fused import FusedConv2d
from hadamard_min.fast.phases import PhaseConv2d


@dataclass
class InferenceForm:
    """conv + bn of a frozen model as one convolution: W' = s·W, b' = t + s·b; for 3×3/1 instead of W' its
    Winograd transform U = G W' Gᵀ (and U′ of the turned W' for F(4×4))."""
    weight: object
    bias: object
    u: object = None
    turned: object = None


def fold_conv_bn(conv, bn):
    """(s·W, t + s·b) with s = γ/√(σ²+ε), t = β − μ s: bn(conv(x)) = conv(x, s·W) + t + s·b in eval mode."""
    xp = array_module(conv.weight.data)
    scale = bn.weight.data / xp.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.data - bn.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias.data * scale
    dtype = conv.weight.dtype
    weight = xp.ascontiguousarray((conv.weight.data * scale.reshape(-1, 1, 1, 1)).astype(dtype))
    return weight, shift.astype(dtype)


def inference_form(conv, bn):
    """The form of ``bn(conv(·))`` for a frozen model, computed once and kept on ``conv``."""
    if conv.inference_form is None:
        weight, bias = fold_conv_bn(conv, bn)
        if (conv.kernel_size, conv.stride, conv.padding, conv.groups) != (3, 1, 1, 1):
            conv.inference_form = InferenceForm(weight, bias)
        else:
            tile = winograd.output_tile(weight.shape[1], cuda_kernels.fused(weight))
            turned = winograd.turned_filters(weight, tile) if tile != 2 else None
            conv.inference_form = InferenceForm(None, bias, winograd.filters(weight, tile), turned)
    return conv.inference_form


def fast_convolution(stride):
    """The fast form of a convolution op with this stride: over phase planes when strided, else fused."""
    return PhaseConv2d if stride > 1 else FusedConv2d


def conv_bn(x, conv, bn):
    """bn(conv(x)) of a frozen model: one folded convolution, Winograd when it is 3×3 with stride 1."""
    form = inference_form(conv, bn)
    if form.u is not None:
        return winograd.WinogradConv2d.apply(x, u=form.u, turned=form.turned, bias=form.bias)
    return fast_convolution(conv.stride).apply(x, Tensor(form.weight), Tensor(form.bias), stride=conv.stride,
                                               padding=conv.padding, groups=conv.groups)
