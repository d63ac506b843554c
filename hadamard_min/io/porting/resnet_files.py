"""ImageNet ResNet weight files for the preset: torchvision, timm, and Cadene's fbresnet152.

torchvision's ``resnet152`` and timm's ``resnet152.tv_in1k`` use our names as they are. The published
MLBs were trained on fb.resnet.torch's ResNet-152 (vqa.pytorch reports lower results with torchvision's);
its PyTorch port ``fbresnet152-2e20f6b4.pth`` (Cadene/pretrained-models.pytorch) has the same names and
layout except that every convolution has a bias and the classifier is ``last_linear``. A bias b before a
batch norm (eval mode) moves into its running mean:

    bn(W * x + b) = γ (W * x + b − μ) / √(σ² + ε) + β = γ (W * x − (μ − b)) / √(σ² + ε) + β

so ``running_mean ← μ − b`` and the bias is dropped: exactly the same network, in our bias-free layout.
"""
import numpy

from hadamard_min.io.porting.common import PortError


def _batch_norm_after(conv):
    """The batch norm that follows a convolution: conv1 → bn1, layerI.J.convK → bnK, downsample.0 → .1."""
    if conv.endswith("downsample.0"):
        return conv[:-1] + "1"
    head, _, name = conv.rpartition(".")
    return f"{head}.bn{name[len('conv'):]}" if head else f"bn{name[len('conv'):]}"


def _is_conv_bias(arrays, name):
    weight = arrays.get(name[:-len(".bias")] + ".weight") if name.endswith(".bias") else None
    return weight is not None and weight.ndim == 4


def fold_conv_biases(arrays, source):
    """fbresnet-style arrays → torchvision-style: conv biases folded into running means, last_linear → fc."""
    arrays = {("fc" + name[len("last_linear"):] if name.startswith("last_linear.") else name): value
              for name, value in arrays.items()}
    for bias_name in [name for name in arrays if _is_conv_bias(arrays, name)]:
        conv = bias_name[:-len(".bias")]
        mean = _batch_norm_after(conv) + ".running_mean"
        if mean not in arrays:
            raise PortError(f"{source}: convolution {conv} has a bias but no batch norm {mean} after it; "
                            f"expected a ResNet state_dict (torchvision, timm or fbresnet152)")
        filters = arrays[conv + ".weight"].shape[0]
        for name in (bias_name, mean):  # checked before they are combined: a crafted pair could broadcast
            value = numpy.asarray(arrays[name])
            if value.shape != (filters,) or value.dtype.kind not in "fiu":
                raise PortError(f"{source}: {name} holds {value.dtype}{value.shape}, not {filters} real numbers "
                                f"(one per filter of {conv})")
        arrays[mean] = (arrays[mean] - arrays.pop(bias_name)).astype(numpy.float32)
    return arrays


def resnet_state(arrays, source):
    """(config, arrays): the ResNet layout a torchvision-named state_dict fits, and its arrays in our layout.

    The layout (blocks per stage, width, classes) is read off the names, so any bottleneck ResNet fits;
    a file without the classifier gets ``num_classes`` 1 (the preset never uses it).
    """
    if arrays and all(name.startswith("module.") for name in arrays):
        arrays = {name[len("module."):]: value for name, value in arrays.items()}
    arrays = fold_conv_biases(arrays, source)
    layers = []
    while f"layer{len(layers) + 1}.0.conv1.weight" in arrays:
        prefix = f"layer{len(layers) + 1}."
        layers.append(sum(1 for name in arrays if name.startswith(prefix) and name.endswith(".conv1.weight")))
    if "conv1.weight" not in arrays or not layers or "layer1.0.conv3.weight" not in arrays:
        raise PortError(f"{source} is not a bottleneck ResNet state_dict with torchvision's names "
                        f"(conv1.weight, layer1.0.conv3.weight, …); expected ResNet-152 weights from "
                        f"torchvision, timm or fbresnet152")
    for name, axes in (("conv1.weight", 4), ("fc.weight", 2)):
        if name in arrays and numpy.ndim(arrays[name]) != axes:
            raise PortError(f"{source}: {name} has {numpy.ndim(arrays[name])} axes, not {axes}; not a ResNet "
                            f"state_dict with torchvision's names")
    num_classes = int(arrays["fc.weight"].shape[0]) if "fc.weight" in arrays else 1
    config = {"layers": layers, "width": int(arrays["conv1.weight"].shape[0]), "num_classes": num_classes}
    return config, arrays
