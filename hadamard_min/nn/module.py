"""``Module``: an object that owns parameters and sub-modules, named as PyTorch's state_dict, so weights port 1:1.

A ``Module`` finds its parameters, buffers and sub-modules from its attributes, in the order they
were set: ``named_parameters()`` yields ``("layer1.0.conv1.weight", tensor)``-style names.

Frozen. ``freeze()`` (or ``with model.frozen():``) puts a model in eval mode with no parameter gradients
and says so explicitly (``is_frozen``): its weights cannot change, so the fast path may keep inference
forms of them (``hadamard_min/fast/frozen.py``). Anything that may change the weights (training,
unfreezing, loading, moving) first calls ``weights_may_change()`` on every sub-module, which drops them.
"""
import contextlib

import numpy

from hadamard_min.core.backend import check_on_current_device, to_device, to_numpy
from hadamard_min.core.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and training updates."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Module:
    training = False
    is_frozen = False
    parks_filters = False  # frozen by freeze(): the fast path may park the filters its inference forms replace

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

        A module that keeps something computed from its weights (a convolution's inference form) drops it here.
        """

    def _before_weights_change(self):
        for _, module in self.named_modules():
            module.weights_may_change()

    def load_state_dict(self, state, source="state_dict"):
        """Copy arrays in by name; missing, unexpected or wrongly shaped keys are reported by name, and so is
        the first array that holds NaN or infinity once in the module's type (every model loads through here)."""
        from hadamard_min.io.weights import check_finite, match_state_dict
        self._before_weights_change()
        expected = {name: tuple(p.shape) for name, p in self.named_parameters()}
        expected.update((name, tuple(b.shape)) for name, b in self.named_buffers())
        matched = match_state_dict(expected, state, source=source)
        dtypes = {name: p.data.dtype for name, p in self.named_parameters()}
        dtypes.update((name, b.dtype) for name, b in self.named_buffers())
        with numpy.errstate(over="ignore", invalid="ignore"):  # a float64 beyond float32 becomes inf: refused below
            cast = {name: array.astype(dtypes[name]) for name, array in matched.items()}
        check_finite(cast, source)
        for prefix, module in self.named_modules():
            for name, child in module.__dict__.get("_children", {}).items():
                if isinstance(child, Parameter):
                    child.data = to_device(cast[prefix + name])
            for name in module.__dict__.get("_buffer_names", []):
                object.__setattr__(module, name, to_device(cast[prefix + name]))
        return self

    def train(self, mode=True):
        if mode:
            self._before_weights_change()
            self._set_frozen(False)
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, flag=True):
        """Freeze (False) or unfreeze every parameter: a frozen one gets no gradient, costs no work."""
        if flag:
            self._before_weights_change()
            self._set_frozen(False)
        for p in self.parameters():
            p.requires_grad = flag
        return self

    def freeze(self, park=True):
        """Eval mode, no parameter gradients, and ``is_frozen``: ready for inference and explanations.

        ``park``: the convolutions' own filters, which the fast path's inference forms replace, wait in a
        temporary file while the model stays frozen (``fast/frozen.py``); ``frozen()`` does not park them.
        """
        self.eval().requires_grad_(False)
        self._set_frozen(True, park)
        return self

    @contextlib.contextmanager
    def frozen(self):
        """Frozen inside the block (``freeze()``); training mode and gradient flags as before afterwards."""
        was_training, was_frozen = self.training, self.is_frozen
        flags = [(p, p.requires_grad) for p in self.parameters()]
        self.freeze(park=was_frozen and self.parks_filters)  # the block's end would bring them back at once
        try:
            yield self
        finally:
            if not was_frozen:
                self._before_weights_change()  # drop the inference forms made inside
                self._set_frozen(False)
            for p, flag in flags:
                p.requires_grad = flag
            for _, module in self.named_modules():
                object.__setattr__(module, "training", was_training)

    def _set_frozen(self, flag, park=False):
        for _, module in self.named_modules():
            object.__setattr__(module, "is_frozen", flag)
            object.__setattr__(module, "parks_filters", flag and park)

    def to_current_device(self):
        """Move parameters and buffers to the device chosen by ``set_device``."""
        self._before_weights_change()
        for p in self.parameters():
            p.data = to_device(p.data)
        for _, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", []):
                object.__setattr__(module, name, to_device(getattr(module, name)))
        return self

    def check_device(self, what="model"):
        """Raise ``DeviceError`` where a parameter or buffer is not on the current device (``set_device``)."""
        arrays = [p.data for p in self.parameters()] + [b for _, b in self.named_buffers()]
        check_on_current_device(arrays, what)

    def astype(self, dtype):
        """Every parameter and buffer in ``dtype`` (float64 for a gradient check or a reference), in place."""
        self._before_weights_change()
        for p in self.parameters():
            p.data = p.data.astype(dtype)
        for _, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", []):
                object.__setattr__(module, name, getattr(module, name).astype(dtype))
        return self

    def num_parameters(self):
        return sum(p.size for p in self.parameters())


class Sequential(Module):
    """Sub-modules named "0", "1", … (state_dict names ``name.0.weight`` …): used by index, or called in order."""

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
