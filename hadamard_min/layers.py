"""Layers: objects that own parameters and call ops. Names follow PyTorch's state_dict, so weights port 1:1.

A ``Module`` finds its parameters, buffers and sub-modules from its attributes, in the order they
were set: ``named_parameters()`` yields ``("layer1.0.conv1.weight", tensor)``-style names.
"""
import math

import numpy

from . import ops
from .backend import get_xp, to_device, to_numpy
from .engine import Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and training updates."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Module:
    training = False

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            self.__dict__.setdefault("_children", {})[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """A non-trained array that belongs in the state_dict (running statistics)."""
        self.__dict__.setdefault("_buffer_names", []).append(name)
        object.__setattr__(self, name, array)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self.__dict__.get("_children", {}).items():
            if isinstance(child, Module):
                yield from child.named_modules(f"{prefix}{name}.")

    def named_parameters(self):
        for prefix, module in self.named_modules():
            for name, child in module.__dict__.get("_children", {}).items():
                if isinstance(child, Parameter):
                    yield prefix + name, child

    def named_buffers(self):
        for prefix, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", []):
                yield prefix + name, getattr(module, name)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def state_dict(self):
        """name → NumPy array, parameters and buffers (PyTorch's names)."""
        state = {name: p.numpy() for name, p in self.named_parameters()}
        state.update((name, to_numpy(b)) for name, b in self.named_buffers())
        return state

    def weights_may_change(self):
        """Called on every sub-module before its weights may change (training, unfreezing, loading).

        A module that caches something computed from its weights (ResNet's folded batch norms) drops it here.
        """

    def _before_weights_change(self):
        for _, module in self.named_modules():
            module.weights_may_change()

    def load_state_dict(self, state, source="state_dict"):
        """Copy arrays in by name; missing, unexpected or wrongly shaped keys are reported by name."""
        from .weights import match_state_dict
        self._before_weights_change()
        expected = {name: tuple(p.shape) for name, p in self.named_parameters()}
        expected.update((name, tuple(b.shape)) for name, b in self.named_buffers())
        matched = match_state_dict(expected, state, source=source)
        for prefix, module in self.named_modules():
            for name, child in module.__dict__.get("_children", {}).items():
                if isinstance(child, Parameter):
                    child.data = to_device(matched[prefix + name].astype(child.dtype))
            for name in module.__dict__.get("_buffer_names", []):
                old = getattr(module, name)
                object.__setattr__(module, name, to_device(matched[prefix + name].astype(old.dtype)))
        return self

    def train(self, mode=True):
        if mode:
            self._before_weights_change()
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, flag=True):
        """Freeze (False) or unfreeze every parameter: a frozen one gets no gradient, costs no work."""
        if flag:
            self._before_weights_change()
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def to_current_device(self):
        """Move parameters and buffers to the device chosen by ``set_device``."""
        self._before_weights_change()
        for p in self.parameters():
            p.data = to_device(p.data)
        for _, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", []):
                object.__setattr__(module, name, to_device(getattr(module, name)))
        return self

    def num_parameters(self):
        return sum(p.size for p in self.parameters())


class Sequential(Module):
    """Sub-modules named "0", "1", … applied in order."""

    def __init__(self, *modules):
        for i, module in enumerate(modules):
            setattr(self, str(i), module)
        self.modules = list(modules)

    def __iter__(self):
        return iter(self.modules)

    def __len__(self):
        return len(self.modules)

    def __getitem__(self, i):
        return self.modules[i]

    def forward(self, x):
        for module in self.modules:
            x = module(x)
        return x


def _uniform(shape, bound, rng):
    return get_xp().asarray(rng.uniform(-bound, bound, shape).astype(numpy.float32))


class Linear(Module):
    """y = x Wᵀ + b, W (out, in); PyTorch's default initialisation U(−1/√in, 1/√in)."""

    def __init__(self, in_features, out_features, bias=True, rng=None):
        rng = rng or numpy.random.default_rng(0)
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(_uniform((out_features, in_features), bound, rng))
        self.bias = Parameter(_uniform((out_features,), bound, rng)) if bias else None

    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)


class Conv2d(Module):
    """2-D convolution (im2col + matmul); He-normal initialisation as torchvision's ResNet."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=False, rng=None):
        rng = rng or numpy.random.default_rng(0)
        fan_out = out_channels * kernel_size * kernel_size
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = Parameter(get_xp().asarray(
            (rng.standard_normal(shape) * math.sqrt(2 / fan_out)).astype(numpy.float32)))
        self.bias = Parameter(get_xp().zeros(out_channels, dtype=numpy.float32)) if bias else None
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return ops.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)


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


class Dropout(Module):
    """Drops with probability p in training; the identity in inference."""

    def __init__(self, p=0.5):
        self.p = p

    def forward(self, x):
        return ops.dropout(x, self.p, self.training)


class ReLU(Module):
    def forward(self, x):
        return ops.relu(x)
