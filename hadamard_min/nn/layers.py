"""Layers: modules that own parameters and call ops. Names follow PyTorch's state_dict, so weights port 1:1."""
import math

import numpy

from hadamard_min import ops
from hadamard_min.core.backend import get_xp
from hadamard_min.fast.frozen import unpark
from hadamard_min.nn import functional
from hadamard_min.nn.init import he_normal, uniform
from hadamard_min.nn.module import Module, Parameter


class Linear(Module):
    """y = x Wᵀ + b, W (out, in); PyTorch's default initialisation U(−1/√in, 1/√in)."""

    def __init__(self, in_features, out_features, bias=True, rng=None):
        rng = rng or numpy.random.default_rng(0)
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(uniform((out_features, in_features), bound, rng))
        self.bias = Parameter(uniform((out_features,), bound, rng)) if bias else None

    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)


class Conv2d(Module):
    """2-D convolution (im2col + matmul); He-normal initialisation as torchvision's ResNet.

    While the model is frozen, the fast path keeps this layer's ``inference_form`` (``fast/frozen.py``).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=False, rng=None, groups=1):
        rng = rng or numpy.random.default_rng(0)
        self.weight = Parameter(he_normal((out_channels, in_channels // groups, kernel_size, kernel_size), rng))
        self.bias = Parameter(get_xp().zeros(out_channels, dtype=numpy.float32)) if bias else None
        self.kernel_size, self.stride, self.padding, self.groups = kernel_size, stride, padding, groups
        self.inference_form = None  # the fast path's folded/transformed copy, while the model is frozen

    def forward(self, x):
        return functional.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                                 groups=self.groups)

    def weights_may_change(self):
        self.inference_form = None
        self.weight.data = unpark(self.weight.data)  # the filters, parked while frozen, back in memory


class BatchNorm2d(Module):
    """Batch norm over channels: batch statistics in training, running statistics in inference."""

    def __init__(self, channels, eps=1e-5, momentum=0.1):
        xp = get_xp()
        self.weight = Parameter(xp.ones(channels, dtype=numpy.float32))
        self.bias = Parameter(xp.zeros(channels, dtype=numpy.float32))
        self.register_buffer("running_mean", xp.zeros(channels, dtype=numpy.float32))
        self.register_buffer("running_var", xp.ones(channels, dtype=numpy.float32))
        self.eps, self.momentum = eps, momentum

    def forward(self, x):
        return ops.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                              training=self.training, momentum=self.momentum, eps=self.eps)


class Embedding(Module):
    """The word lookup table: row i is the vector of word i (row 0, padding, starts at zero)."""

    def __init__(self, num_words, dim, rng=None):
        rng = rng or numpy.random.default_rng(0)
        table = rng.standard_normal((num_words, dim)).astype(numpy.float32)  # N(0, 1), as PyTorch
        table[0] = 0
        self.weight = Parameter(get_xp().asarray(table))

    def forward(self, ids):
        return ops.embedding(self.weight, ids)
