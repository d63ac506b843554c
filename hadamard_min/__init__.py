"""hadamard-min: visual explanations from the Hadamard product in multimodal networks, from scratch."""
import warnings

from . import ops
from .backend import DeviceError, get_device, get_xp, set_device, to_device, to_numpy
from .checkpoint import load_model
from .engine import BackwardError, Function, Tensor, deconvnet, guided_backprop, no_grad, relu_rule
from .explain import Explanation, explain
from .gradcheck import GradcheckError, gradcheck
from .models import ResNet, resnet152
from .weights import load_weights

# `python -m hadamard_min.explain` runs explain.py again as __main__ after this package imported it; that
# is intended (the module's __main__ block only calls the command line), so runpy's warning is silenced.
warnings.filterwarnings("ignore", message="'hadamard_min.explain' found in sys.modules", category=RuntimeWarning)

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
