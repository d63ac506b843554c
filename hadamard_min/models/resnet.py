"""ResNet with bottleneck blocks (He et al. 2016), laid out and named as torchvision's: weights port 1:1.

One block, ``Bottleneck``, maps x (N, C, H, W) to

    y = relu( bn3(conv3( relu(bn2(conv2( relu(bn1(conv1(x))) ))) )) + shortcut(x) )

with conv1 1×1 (C → p), conv2 3×3 with the block's stride (p → p), conv3 1×1 (p → 4p), and
shortcut(x) = x, or downsample(x) = bn(conv 1×1, stride s) when the shape changes.

``ResNet(layers=(3, 8, 36, 3))`` is ResNet-152: a stem (conv 7×7/2, bn, relu, max-pool 3/2), then
stage i of ``layers[i]`` blocks with width·2^i planes (stride 1 in the first stage, 2 afterwards),
then global average pooling and the classifier ``fc``.

A frozen model (``model.freeze()``) on the fast path runs each conv + bn pair as one folded
convolution (``nn/functional.py``, ``fast/frozen.py``); the code below is the same either way.
"""
import numpy

from hadamard_min import ops
from hadamard_min.core.function import no_grad
from hadamard_min.core.tensor import Tensor
from hadamard_min.nn.functional import conv_bn, max_pool2d, relu
from hadamard_min.nn.layers import BatchNorm2d, Conv2d, Linear
from hadamard_min.nn.module import Module, Sequential


class ResNetConfigError(ValueError):
    """The settings do not describe a ResNet."""


class Bottleneck(Module):
    """1×1 → 3×3 (stride here, as torchvision) → 1×1 (×4 channels), plus the shortcut."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, rng=None):
        out_channels = planes * self.expansion
        self.conv1 = Conv2d(in_channels, planes, 1, rng=rng)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = Conv2d(planes, planes, 3, stride=stride, padding=1, rng=rng)
        self.bn2 = BatchNorm2d(planes)
        self.conv3 = Conv2d(planes, out_channels, 1, rng=rng)
        self.bn3 = BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(Conv2d(in_channels, out_channels, 1, stride=stride, rng=rng),
                                         BatchNorm2d(out_channels))

    def forward(self, x, last_relu=True):
        """The block's output; ``last_relu=False`` leaves out the ReLU after the residual add."""
        h = conv_bn(x, self.conv1, self.bn1)
        h = conv_bn(relu(h), self.conv2, self.bn2)
        h = conv_bn(relu(h), self.conv3, self.bn3)
        if self.downsample is not None:
            x = conv_bn(x, self.downsample[0], self.downsample[1])
        out = h + x
        return relu(out) if last_relu else out


class ResNet(Module):
    """ResNet with bottleneck blocks; ``ResNet()`` is ResNet-152 with torchvision's parameter names."""

    def __init__(self, layers=(3, 8, 36, 3), width=64, num_classes=1000, rng=None):
        rng = rng or numpy.random.default_rng(0)
        self.layers = tuple(int(n) for n in layers)
        self.width, self.num_classes = int(width), int(num_classes)
        if not self.layers or min(self.layers) < 1 or self.width < 1 or self.num_classes < 1:
            raise ResNetConfigError(f"a ResNet needs at least one stage of at least one block, width ≥ 1 and "
                                    f"num_classes ≥ 1; got layers={layers}, width={width}, "
                                    f"num_classes={num_classes}")
        self.conv1 = Conv2d(3, self.width, 7, stride=2, padding=3, rng=rng)
        self.bn1 = BatchNorm2d(self.width)
        channels = self.width
        for i, blocks in enumerate(self.layers):
            planes = self.width * 2 ** i
            stride = 1 if i == 0 else 2
            stage = [Bottleneck(channels, planes, stride, rng=rng)]
            channels = planes * Bottleneck.expansion
            stage += [Bottleneck(channels, planes, 1, rng=rng) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", Sequential(*stage))
        self.out_channels = channels
        self.fc = Linear(channels, self.num_classes, rng=rng)

    # --- settings ------------------------------------------------------------------------------
    def config(self):
        """The settings that rebuild this architecture: ``resnet_from_config(model.config())``."""
        return {"layers": list(self.layers), "width": self.width, "num_classes": self.num_classes}

    def stages(self):
        return [getattr(self, f"layer{i + 1}") for i in range(len(self.layers))]

    def blocks(self):
        return [block for stage in self.stages() for block in stage]

    # --- the network ---------------------------------------------------------------------------
    def stem(self, x):
        """conv 7×7/2 → bn → relu → max-pool 3×3/2 (padding 1)."""
        return max_pool2d(relu(conv_bn(x, self.conv1, self.bn1)), 3, stride=2, padding=1)

    def features(self, x, pre_relu=False):
        """The last stage's map, (N, 4·width·2^(K−1), ≈H/2^(K+1), ≈W/2^(K+1)) for K stages (H/32 for 4).

        ``pre_relu=True`` leaves out the very last ReLU.

        The pre-ReLU map is what MLB attends over: it keeps the negative part of the residual sum.
        """
        x = self.stem(x)
        blocks = self.blocks()
        for k, block in enumerate(blocks):
            x = block(x, last_relu=not (pre_relu and k == len(blocks) - 1))
        return x

    def forward(self, x):
        """ImageNet-style logits: global average pool of the features, then ``fc``."""
        return self.fc(ops.global_avg_pool(self.features(x)))


def calibrate_batchnorm(model, x):
    """Set every batch norm's running μ, σ² to the statistics of the batch ``x`` (one training-mode pass).

    A randomly initialised deep ResNet whose batch norms are the identity (μ = 0, σ² = 1) lets the
    residual sum grow block after block; with calibrated statistics each batch norm standardises its
    input, as a trained network's do, so random-weight experiments see well-scaled activations.
    """
    norms = [m for _, m in model.named_modules() if isinstance(m, BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    was_training = model.training
    for m in norms:
        m.momentum = 1.0  # running statistics := this batch's
    try:
        with no_grad():
            model.train()(x if isinstance(x, Tensor) else Tensor(x))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    return model


def resnet152(num_classes=1000, rng=None):
    """The paper's image network: 3, 8, 36 and 3 bottleneck blocks, 60,192,808 parameters."""
    return ResNet((3, 8, 36, 3), width=64, num_classes=num_classes, rng=rng)


def resnet_from_config(config, rng=None):
    """Rebuild a ResNet from ``model.config()`` (e.g. saved as the metadata of a weight file)."""
    return ResNet(config["layers"], width=config.get("width", 64),
                  num_classes=config.get("num_classes", 1000), rng=rng)
