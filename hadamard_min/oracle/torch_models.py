"""The PyTorch side of ``hadamard-bench``: the same ResNet in plain torch (torchvision's names, no
torchvision), guided ReLUs as an autograd Function, and the worker's timed steps on our weights.

Imported only by the torch worker process and by the parity tests; torch is never a runtime dependency.
"""
from hadamard_min.cli.bench import DEPTHS, BenchError, _input, _one_hot


def torch_resnet(torch, layers, width=64, num_classes=1000):
    """The same network in plain torch with torchvision's names; ``Relu.guided = True`` makes ReLUs guided."""
    nn = torch.nn

    class GuidedReLU(torch.autograd.Function):
        """y = max(x, 0);  dx = dy · [y > 0] · [dy > 0]."""

        @staticmethod
        def forward(ctx, x):
            y = x.clamp(min=0)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, dy):
            (y,) = ctx.saved_tensors
            return dy.clamp(min=0) * (y > 0)

    class Relu(nn.Module):
        guided = False

        def forward(self, x):
            return GuidedReLU.apply(x) if Relu.guided else torch.relu(x)

    class Block(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            cout = planes * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3, self.bn3 = nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.relu = Relu()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1, self.relu = nn.BatchNorm2d(width), Relu()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = width
            for i, blocks in enumerate(layers):
                planes = width * 2 ** i
                stage = []
                for b in range(blocks):
                    stage.append(Block(cin, planes, (1 if i == 0 else 2) if b == 0 else 1))
                    cin = planes * 4
                setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            self.fc = nn.Linear(cin, num_classes)
            self.stages = len(layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(self.stages):
                x = getattr(self, f"layer{i + 1}")(x)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return Net(), Relu


def torch_side(args):
    """(forward, explain, sync, to_host, peak, facts) for the plain-torch copy, on our worker's weights."""
    import torch

    from hadamard_min.io.weights import load_weights

    torch.set_num_threads(args.threads)
    use_cuda = args.device == "gpu" and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # plain fp32
    model, relu = torch_resnet(torch, DEPTHS[args.depth])
    state = {name: torch.from_numpy(array) for name, array in load_weights(args.weights).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise BenchError(f"{args.weights} does not fit the torch network: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    del state
    model = model.to(device).eval().requires_grad_(False)
    image = torch.from_numpy(_input(args)).to(device)
    seed = torch.from_numpy(_one_hot(args.batch[0], 1000)).to(device)

    def forward():
        relu.guided = False
        with torch.no_grad():
            model(image)

    def explain():
        relu.guided = True
        x = image.clone().requires_grad_(True)
        model(x).backward(seed)
        return x.grad

    facts = {"threads": torch.get_num_threads(), "library": f"torch {torch.__version__} on {device.type}"}
    if not use_cuda:
        return forward, explain, (lambda: None), lambda grad: grad.numpy(), None, facts

    def peak(step):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()

    facts |= {"device": torch.cuda.get_device_name(), "tf32": "off (allow_tf32 = False for matmul and cuDNN)",
              "cudnn": torch.backends.cudnn.version()}
    return forward, explain, torch.cuda.synchronize, lambda grad: grad.cpu().numpy(), peak, facts
