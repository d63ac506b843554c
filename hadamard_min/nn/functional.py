"""The ops that have a fast form, as layers and models call them: the one place that picks the form.

    relu(x)               ops.relu.ReLU                    or fast.fused.FusedReLU (one CUDA kernel a pass)
    conv2d(x, W, b, ...)  ops.conv.Conv2d                  or fast.fused.FusedConv2d (im2col as one kernel),
                                                           fast.phases.PhaseConv2d for stride > 1 (phase planes)
    conv_bn(x, conv, bn)  bn(conv(x)), two reference ops   or, for a frozen model, one folded convolution,
                                                           Winograd for 3×3 stride 1 (fast/frozen.py)
    max_pool2d(x, ...)    ops.conv.MaxPool2d               or fast.phases.FastMaxPool2d (running maxima)

The reference form runs when the fast path is off (``HADAMARD_FAST=0``, ``with hm.fast(False):``); with it
on, the fast form runs, and the folded one only for a model frozen by ``Module.freeze()``. Each fast
form is tested equal to its reference. On the CPU the fused convolution *is* the reference op.
"""
from hadamard_min.fast.frozen import conv_bn as frozen_conv_bn
from hadamard_min.fast.frozen import fast_convolution
from hadamard_min.fast.fused import FusedReLU
from hadamard_min.fast.phases import FastMaxPool2d
from hadamard_min.fast.switch import enabled as fast_path
from hadamard_min.ops.conv import Conv2d, MaxPool2d
from hadamard_min.ops.relu import ReLU


def relu(x):
    """max(x, 0), backward by the enclosing ``relu_rule`` block."""
    return (FusedReLU if fast_path() else ReLU).apply(x)


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    """The convolution of ``ops.conv.Conv2d``."""
    args = (x, weight, bias) if bias is not None else (x, weight)
    return (fast_convolution(stride) if fast_path() else Conv2d).apply(*args, stride=stride, padding=padding,
                                                                            groups=groups)


def conv_bn(x, conv, bn):
    """bn(conv(x)) for a convolution layer followed by a batch-norm layer."""
    if fast_path() and conv.is_frozen:
        return frozen_conv_bn(x, conv, bn)
    return bn(conv(x))


def max_pool2d(x, kernel, stride=None, padding=0):
    """The maximum over each kernel×kernel window (``ops.conv.MaxPool2d``)."""
    op = FastMaxPool2d if fast_path() else MaxPool2d
    return op.apply(x, kernel=kernel, stride=stride or kernel, padding=padding)
