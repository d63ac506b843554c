"""Saliency maps of an image classifier (EfficientNet-Lite on ImageNet) for one class k, y = logit k:

    gradient   ∂y/∂x                                         (Simonyan et al. 2014)
    guided     ∂y/∂x with every ReLU(6) passing dy·[x>0]·[dy>0]   (Springenberg et al. 2015)
    deconvnet  every ReLU(6) passing dy·[dy>0], blind to x        (Zeiler & Fergus 2014)
    gradcam    ReLU(Σ_c w_c A_c), w_c = mean_{i,j} ∂y/∂A_c(i,j), A = the last feature map
               (Selvaraju et al. 2017), upsampled bilinearly to the input's size

The three gradient methods differ only in the rule of the activations' backward (``ops/relu.py``);
Grad-CAM uses the plain gradient, at the features instead of the pixels. The model must have
``prepare_image``, ``features(x)`` and ``classifier(features)`` (logits = classifier(features(x))); it is
frozen while a map is computed (``Module.frozen()``), so a model whose weights change between calls (the
cascading randomisation) is never explained with stale folded weights.
"""
from dataclasses import dataclass

import numpy

from hadamard_min.core.backend import to_device, to_numpy
from hadamard_min.core.function import no_grad
from hadamard_min.core.tensor import Tensor
from hadamard_min.explain.framing import Framing, to_image
from hadamard_min.ops.relu import relu_rule

METHODS = ("guided", "gradient", "deconvnet", "gradcam")


@dataclass
class Prediction:
    pixels: object         # uint8 (H, W, 3): the picture the network sees
    x: object              # float32 (3, H, W): its input
    probabilities: object  # float64 (classes,): softmax of the logits

    def top(self, k=5):
        """The ``k`` most probable classes, most probable first: [(class, probability)]."""
        order = numpy.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(c), float(self.probabilities[c])) for c in order]


def softmax(logits):
    shifted = numpy.exp(logits - logits.max())
    return shifted / shifted.sum()


def classify(model, image):
    """The model's prediction on ``image`` (a path, PIL image or uint8 array), one forward without graph."""
    model.check_device()  # left on the other device after set_device: said in words, not deep in an op
    pixels, x = model.prepare_image(image)
    with model.frozen(), no_grad():
        logits = to_numpy(model(Tensor(to_device(x[None]))).data)[0]
    return Prediction(pixels, x, softmax(logits.astype(numpy.float64)))


def saliency_maps(model, x, target, methods=METHODS):
    """``{method: map}`` for class ``target`` on input ``x`` (3, H, W): float64 (3, H, W) for the gradient
    methods, (H, W) for Grad-CAM. One forward pass; one backward pass per ReLU rule (Grad-CAM shares the
    plain gradient's), the graph kept between them."""
    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise ValueError(f"methods must be among {', '.join(METHODS)}, not {', '.join(map(repr, unknown))}")
    model.check_device()
    rules = list(dict.fromkeys("gradient" if method == "gradcam" else method for method in methods))
    image = Tensor(to_device(x[None]), requires_grad=True)  # a frozen model records its graph for x
    maps = {}
    with model.frozen():
        features = model.features(image)
        features.retain_grad()
        logits = model.classifier(features)
        seed = numpy.zeros(logits.shape, dtype=logits.dtype)
        seed[0, target] = 1.0
        for number, rule in enumerate(rules, 1):
            image.zero_grad()
            features.zero_grad()
            with relu_rule(rule):
                logits.backward(to_device(seed), retain_graph=number < len(rules))
            maps[rule] = to_numpy(image.grad[0]).astype(numpy.float64)
            if rule == "gradient" and "gradcam" in methods:
                maps["gradcam"] = _grad_cam(features, x.shape[1:])
    return {method: maps[method] for method in methods}


def _grad_cam(features, size):
    """ReLU(Σ_c w_c A_c) with w_c the mean of ∂y/∂A_c, upsampled bilinearly to ``size``."""
    maps, grads = to_numpy(features.data[0]).astype(numpy.float64), to_numpy(features.grad[0]).astype(numpy.float64)
    cam = numpy.maximum(numpy.einsum("c,cij->ij", grads.mean(axis=(1, 2)), maps), 0.0)
    return to_image(cam, Framing.whole(*size), dtype=numpy.float64)


def saliency(model, x, target, method="guided"):
    """The map of one ``method`` (see :func:`saliency_maps`)."""
    return saliency_maps(model, x, target, (method,))[method]
