"""hadamard-min: visual explanations from the Hadamard product in multimodal networks, from scratch."""
from . import ops
from .backend import DeviceError, get_device, get_xp, set_device, to_device, to_numpy
from .checkpoint import load_model
from .engine import BackwardError, Function, Tensor, deconvnet, guided_backprop, no_grad, relu_rule
from .explain import Explanation, explain
from .gradcheck import GradcheckError, gradcheck
from .models import ResNet, resnet152
from .weights import load_weights

__all__ = [
    "BackwardError",
    "DeviceError",
    "Explanation",
    "Function",
    "GradcheckError",
    "ResNet",
    "Tensor",
    "deconvnet",
    "explain",
    "get_device",
    "get_xp",
    "gradcheck",
    "guided_backprop",
    "load_model",
    "load_weights",
    "no_grad",
    "ops",
    "relu_rule",
    "resnet152",
    "set_device",
    "to_device",
    "to_numpy",
]
