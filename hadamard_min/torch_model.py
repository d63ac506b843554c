"""The state of the user's PyTorch model that ``explain_torch`` checks: its mode and its parameters' dtype.

A model in training mode would not give the explanation of the model: dropout would make it random, and batch
norm would update its running statistics. The model ``explain_torch`` knows (``relus``, or the module whose
method ``forward`` is) is checked before it runs; any other module ``forward`` calls (``forward`` a lambda, or
``relus`` only a part of the model) is checked as it is called, before its own forward runs, by a forward
pre-hook of every module that holds while ``forward`` runs, on its thread only.
"""
import contextlib
import threading

import torch


def model_of(forward, relus):
    """The module whose ReLUs and state are checked: ``relus``, else the module ``forward`` is or is a method
    of (``net``, ``net.qvf``); None where ``forward`` is another function (a lambda)."""
    if relus is not None:
        return relus
    owner = getattr(forward, "__self__", forward)
    return owner if isinstance(owner, torch.nn.Module) else None


def check_model(model, images, words):
    """The model in eval mode with its values (not on the meta device), and the inputs of its parameters' dtype
    where they have one."""
    training = [(name, module) for name, module in model.named_modules()
                if module.training and (module is model or depends_on_mode(module))]  # a ReLU swapped in: no matter
    if training:
        name, module = training[0]
        where = f"the model's module {name}" if name else "the model"
        raise ValueError(f"{where} ({type(module).__name__}) is in training mode ({len(training)} module(s) in "
                         f"all): {_WHY}; call net.eval() first")
    if any(x.is_meta for x in (*model.parameters(), *model.buffers())):  # else torch failed in forward on devices
        raise ValueError("the model's parameters or buffers are on the meta device and hold no values: "
                         "load its weights first (net.to_empty(device=...), then net.load_state_dict(...))")
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    for name, x in (("images", images), ("words", words)):
        if len(dtypes) == 1 and x.dtype not in dtypes:
            dtype, = dtypes
            raise TypeError(f"{name} are {x.dtype} but the model's parameters are {dtype}: pass {name}.to({dtype})")


_WHY = "dropout would make the explanation random and batch norm would update its running statistics"


def depends_on_mode(module):
    """Whether ``module`` computes otherwise in training mode: dropout that drops, statistics that run."""
    from torch.nn.modules.batchnorm import _NormBase
    from torch.nn.modules.dropout import _DropoutNd

    if isinstance(module, _DropoutNd | torch.nn.RNNBase | torch.nn.MultiheadAttention):
        return getattr(module, "p", getattr(module, "dropout", 0)) > 0
    return isinstance(module, _NormBase) and module.track_running_stats


@contextlib.contextmanager
def refusing_training():
    """Inside: a module called in training mode whose output depends on the mode raises ValueError before it
    runs (its running statistics untouched), when called from this thread."""
    thread = threading.get_ident()

    def check(module, inputs):
        if module.training and threading.get_ident() == thread and depends_on_mode(module):
            raise ValueError(f"forward called a {type(module).__name__} module in training mode: {_WHY}; "
                             f"call net.eval() first (or pass relus=net, the whole model, to have it checked "
                             f"before it runs)")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


class RelusAsFunctions(torch.overrides.TorchFunctionMode):
    """Inside: each ReLU or ReLU6 called as a function is computed by ``rectify(x, upper, inplace)`` instead
    where autograd records it; elsewhere (an integer tensor, ``torch.no_grad``) torch computes it, dtype and
    errors its own. A ReLU is max(x, 0) however it is written: ``torch.relu``, ``F.relu``, ``x.relu_()``,
    ``F.hardtanh`` from 0 (so the forward of an ``nn.ReLU`` or ``nn.ReLU6`` outside ``relus``), ``clamp``,
    ``clip`` or ``clamp_min`` from 0 (min(max(x, 0), u) for a max u > 0), and ``F.threshold(x, 0, 0)`` (x where
    x > 0, else 0). Another bound or threshold, or a bound that is a tensor other than a 0-dim one (autograd
    would pass it a gradient, or it bounds each element apart), is no ReLU: torch computes it."""
    F = torch.nn.functional
    CLAMPS = {torch.clamp, torch.Tensor.clamp, torch.clamp_, torch.Tensor.clamp_, torch.clip, torch.Tensor.clip,
              torch.clip_, torch.Tensor.clip_, torch.clamp_min, torch.Tensor.clamp_min, torch.clamp_min_,
              torch.Tensor.clamp_min_}
    IN_PLACE = {torch.relu_, torch.Tensor.relu_, F.hardtanh_, F.threshold_, torch.clamp_, torch.Tensor.clamp_,
                torch.clip_, torch.Tensor.clip_, torch.clamp_min_, torch.Tensor.clamp_min_}
    PARAMETERS = {torch.relu: ("input",), torch.relu_: ("input",), torch.Tensor.relu: ("input",),  # F.relu_ too
                  torch.Tensor.relu_: ("input",), F.relu: ("input", "inplace"), F.relu6: ("input", "inplace"),
                  F.hardtanh: ("input", "min_val", "max_val", "inplace"), F.hardtanh_: ("input", "min_val", "max_val"),
                  F.threshold: ("input", "min_val", "value", "inplace"), F.threshold_: ("input", "min_val", "value"),
                  **dict.fromkeys(CLAMPS, ("input", "min_val", "max_val"))}
    KEYWORDS = {"min": "min_val", "max": "max_val", "threshold": "min_val"}  # clamp's and threshold's names

    def __init__(self, rectify):
        super().__init__()
        self.rectify = rectify

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in self.PARAMETERS:
            return func(*args, **kwargs)
        given = {"min_val": 0, "max_val": {self.F.relu6: 6.0}.get(func), "value": 0, "inplace": func in self.IN_PLACE}
        if func in (self.F.hardtanh, self.F.hardtanh_):  # a ReLU6 where it runs from 0 up (nn.ReLU6's forward)
            given.update(min_val=-1.0, max_val=1.0)
        if func in self.CLAMPS:
            given.update(min_val=None)  # clamp(x, max=u) has no lower bound
        given.update(zip(self.PARAMETERS[func], args), **{self.KEYWORDS.get(k, k): v for k, v in kwargs.items()})
        x, lower, upper = given["input"], scalar_bound(given["min_val"]), scalar_bound(given["max_val"])
        if lower != 0 or given["value"] != 0 or upper is NotImplemented or (upper is not None and not upper > 0) \
                or not (torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad):
            return func(*args, **kwargs)  # no ReLU, or no gradient to pass back (int64 relu6 stays int64)
        return self.rectify(x, upper, bool(given["inplace"]))


def scalar_bound(bound):
    """A bound as a number (None: none): a 0-dim tensor's value where autograd passes it no gradient; any other
    tensor NotImplemented (a bound per element, or one with a gradient of its own)."""
    if not isinstance(bound, torch.Tensor):
        return bound
    return bound.item() if bound.dim() == 0 and not bound.requires_grad else NotImplemented
