"""The one PyTorch oracle: the networks of hadamard-min written in plain torch (torchvision's names, no
torchvision), shared by the parity tests, ``hadamard-bench`` and the lessons.

    closed_form_relu(torch, rule)        a ReLU whose backward is a rule of ``ops/relu.py`` in closed form
    torch_resnet(torch, layers, ...)     ResNet with bottleneck blocks, as ``models/resnet.py``
    torch_vqa(model) (``torch_vqa.py``)  the whole VQA model and its explanation, eq. 2-3

torch is never a runtime dependency of hadamard-min: nothing outside this package and the optional
``torch_explain.py`` (the explanation for a user's torch model, which the oracle's VQA model uses) imports it, and each
function here takes the torch module (``torch=None`` imports it), so that importing the oracle costs nothing.
"""


def import_torch(torch=None):
    """``torch`` itself when given, else the installed torch module (ImportError where there is none)."""
    if torch is None:
        import torch
    return torch


def closed_form_relu(torch=None, rule="guided"):
    """y = max(x, 0) with a backward that is no derivative but a closed-form rule of ``ops/relu.py``:

        guided:    dx = dy · [x > 0] · [dy > 0]  = max(dy, 0) · [y > 0]
        deconvnet: dx = dy · [dy > 0]            = max(dy, 0)

    Guided keeps y, which the next layer holds anyway ([y > 0] = [x > 0]); deconvnet keeps nothing.
    """
    torch = import_torch(torch)
    if rule not in ("guided", "deconvnet"):
        raise ValueError(f"closed_form_relu's rule is 'guided' or 'deconvnet', not {rule!r}")

    class ClosedFormReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.clamp(min=0)
            if rule == "guided":
                ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, dy):
            passed = dy.clamp(min=0)
            return passed * (ctx.saved_tensors[0] > 0) if rule == "guided" else passed

    return ClosedFormReLU.apply


class Activations:
    """The ReLUs and max-pools a torch ResNet of this oracle runs: torch's own (the network's ``nn.ReLU``
    module ``relu`` where given), and with ``guided`` ReLUs that pass back dx = dy · [x > 0] · [dy > 0].
    A network may be handed any object with these two methods instead (a test's replay of the pieces of
    another pass, say)."""

    def __init__(self, torch, guided=False, relu=None):
        self.torch = torch
        self.relu = closed_form_relu(torch, "guided") if guided else relu or torch.relu

    def max_pool(self, x, kernel, stride, padding):
        return self.torch.nn.functional.max_pool2d(x, kernel, stride, padding)


def torch_resnet(torch=None, layers=(3, 8, 36, 3), width=64, num_classes=1000):
    """ResNet with bottleneck blocks in plain torch (a ``torch.nn.Module`` in training mode, as torch builds it).

    ``net(x, guided=False)`` gives the logits, ``net.features(x, guided, pre_relu)`` the last stage's map
    (``pre_relu=True`` leaves out the very last ReLU); ``guided=True`` makes every ReLU pass back guided
    backprop's dx = dy · [x > 0] · [dy > 0]; ``activations`` (an ``Activations`` or the like) runs the ReLUs
    and max-pools instead. Parameter names are torchvision's, as our ResNet's.
    """
    torch = import_torch(torch)
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3, self.bn3 = nn.Conv2d(planes, 4 * planes, 1, bias=False), nn.BatchNorm2d(4 * planes)
            self.downsample = None
            if stride != 1 or cin != 4 * planes:
                self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * planes, 1, stride=stride, bias=False),
                                                nn.BatchNorm2d(4 * planes))

        def forward(self, x, act, last_relu=True):
            out = act.relu(self.bn1(self.conv1(x)))
            out = act.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out)) + (x if self.downsample is None else self.downsample(x))
            return act.relu(out) if last_relu else out

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU()  # a module, as torchvision's: torch_explain.explain_torch finds it
            cin = width
            for i, blocks in enumerate(layers):
                planes = width * 2 ** i
                stage = [Bottleneck(cin if b == 0 else 4 * planes, planes, 2 if i > 0 and b == 0 else 1)
                         for b in range(blocks)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
                cin = 4 * planes
            self.fc = nn.Linear(cin, num_classes)

        def features(self, x, guided=False, pre_relu=False, activations=None):
            act = activations or Activations(torch, guided, self.relu)
            x = act.max_pool(act.relu(self.bn1(self.conv1(x))), 3, 2, 1)
            blocks = [block for i in range(len(layers)) for block in getattr(self, f"layer{i + 1}")]
            for k, block in enumerate(blocks):
                x = block(x, act, last_relu=not (pre_relu and k == len(blocks) - 1))
            return x

        def forward(self, x, guided=False, activations=None):
            return self.fc(self.features(x, guided, activations=activations).mean(dim=(2, 3)))

    return ResNet()
