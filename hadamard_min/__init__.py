"""hadamard-min: visual explanations from the Hadamard product in multimodal networks, from scratch."""
__version__ = "0.1.0"  # the one place; pyproject.toml reads it

from hadamard_min import ops
from hadamard_min.core.backend import DeviceError, get_device, get_xp, set_device, to_device, to_numpy
from hadamard_min.core.function import Function, no_grad
from hadamard_min.core.gradcheck import GradcheckError, gradcheck
from hadamard_min.core.tensor import BackwardError, Tensor
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.methods import explain, explain_batch
from hadamard_min.explain.notebook import example, overlay, plot_explanation
from hadamard_min.explain.result import Explanation
from hadamard_min.explain.stacked import Stacked, stack
from hadamard_min.fast.switch import fast  # hm.fast(False): the switch (the package is hadamard_min.fast.*)
from hadamard_min.io.model_files import load_model
from hadamard_min.io.weights import load_weights
from hadamard_min.learner.ops import learner  # hm.learner(DIR): the learner's ops (package: hadamard_min.learner.*)
from hadamard_min.models import ResNet, resnet152
from hadamard_min.ops.relu import deconvnet, guided_backprop, relu_rule

__all__ = [
    "BackwardError",
    "DeviceError",
    "ExplainArgumentError",
    "Explanation",
    "Function",
    "GradcheckError",
    "ResNet",
    "Stacked",
    "Tensor",
    "__version__",
    "deconvnet",
    "example",
    "explain",
    "explain_batch",
    "fast",
    "get_device",
    "get_xp",
    "gradcheck",
    "guided_backprop",
    "learner",
    "load_model",
    "load_weights",
    "no_grad",
    "ops",
    "overlay",
    "plot_explanation",
    "relu_rule",
    "resnet152",
    "set_device",
    "stack",
    "to_device",
    "to_numpy",
]
