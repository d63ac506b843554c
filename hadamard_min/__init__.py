"""hadamard-min: visual explanations from the Hadamard product in multimodal networks, from scratch."""
from . import ops
from .backend import DeviceError, get_device, get_xp, set_device, to_device, to_numpy
from .engine import BackwardError, Function, Tensor, deconvnet, guided_backprop, no_grad, relu_rule
from .gradcheck import GradcheckError, gradcheck

__all__ = [
    "BackwardError",
    "DeviceError",
    "Function",
    "GradcheckError",
    "Tensor",
    "deconvnet",
    "get_device",
    "get_xp",
    "gradcheck",
    "guided_backprop",
    "no_grad",
    "ops",
    "relu_rule",
    "set_device",
    "to_device",
    "to_numpy",
]
