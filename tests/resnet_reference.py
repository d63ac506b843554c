"""The linear pieces a pass of our ResNet ran on, recorded, and replayed by the oracle's torch ResNet.

With its weights fixed, a ResNet is piecewise linear in its input: the piece is chosen by every ReLU's mask
[x > 0] and every max-pool's arg-max, and on one piece the input gradient is a product of fixed matrices.
Across a kink the gradient jumps: a ReLU input within rounding of 0 may land on either side in two correct
float32 passes (another summation order, another BLAS kernel), and the gradients then differ by that unit's
whole contribution (an 11×11 patch of pixels for a stem ReLU), not by rounding.

So our pass *records* its pieces (``recording``) and the torch reference *replays* them (``Replay``): the
reference then computes, in float64, the exact output and gradient on the piece our pass chose, and it
audits each choice: where ours took the other side of a kink than float64 would, the float64 input must lie
within ``margin`` (relative to the largest input of that ReLU or max-pool) of the kink.
"""
import contextlib
import functools

import numpy
from numpy.lib.stride_tricks import sliding_window_view

from hadamard_min import to_numpy
from hadamard_min.models import resnet
from hadamard_min.ops.conv import tie_tolerance
from hadamard_min.oracle.torch_models import closed_form_relu, torch_resnet


def random_reference(torch, layers, width, num_classes=10, seed=0):
    """The reference with random weights and non-trivial batch norms (γ, β, running mean and variance)."""
    torch.manual_seed(seed)
    net = torch_resnet(torch, layers, width, num_classes)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval().requires_grad_(False)


def window_argmax(x, kernel, stride, padding):
    """The first value of each max-pool window (padding −∞) within the tie width τ (``ops.conv.tie_tolerance``)
    of its maximum, as the index i·k + j inside the window: the max-pool's rule for ties."""
    padded = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=-numpy.inf)
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    windows = windows.reshape(*windows.shape[:4], kernel * kernel)
    tau = tie_tolerance(x)[..., None]
    return (windows >= windows.max(axis=-1, keepdims=True) - tau).argmax(axis=-1)


class Pieces:
    """The piece one pass of ours ran on: each ReLU's mask and each max-pool's arg-max, in call order."""

    def __init__(self):
        self.masks, self.argmaxes = [], []

    def __eq__(self, other):
        mine, theirs = self.masks + self.argmaxes, other.masks + other.argmaxes
        return len(mine) == len(theirs) and all(numpy.array_equal(a, b) for a, b in zip(mine, theirs))


@contextlib.contextmanager
def recording(pieces):
    """Inside this block every ReLU and max-pool our ResNet calls (``nn.functional``'s, the reference or the
    fast form, whichever is on) is noted in ``pieces``.

    Read from the op's output and input only (y > 0 exactly where x > 0), never from what the op saved for
    its backward: a backward that uses a wrong mask is then still caught."""
    relu, max_pool2d = resnet.relu, resnet.max_pool2d

    def noted_relu(x):
        y = relu(x)
        pieces.masks.append(to_numpy(y.data) > 0)
        return y

    def noted_max_pool2d(x, kernel, stride=None, padding=0):
        pieces.argmaxes.append(window_argmax(to_numpy(x.data), kernel, stride or kernel, padding))
        return max_pool2d(x, kernel, stride, padding)

    resnet.relu, resnet.max_pool2d = noted_relu, noted_max_pool2d
    try:
        yield pieces
    finally:
        resnet.relu, resnet.max_pool2d = relu, max_pool2d


@functools.cache
def piece_relu(torch):
    """A torch ReLU on a given piece: y = x·mask;  dx = dy·mask, or dy·mask·[dy > 0] when guided."""

    class PieceReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, mask, guided):
            ctx.save_for_backward(mask)
            ctx.guided = guided
            return x * mask

        @staticmethod
        def backward(ctx, dy):
            (mask,) = ctx.saved_tensors
            return (dy * mask * (dy > 0) if ctx.guided else dy * mask), None, None

    return PieceReLU.apply


class Replay:
    """The ReLUs and max-pools of one torch pass, run on the pieces ``pieces`` recorded, in order.

    ``guided`` gives every ReLU the backward dy·[x > 0]·[dy > 0] (with the recorded [x > 0]); dy·[dy > 0]
    is continuous in dy, so a dy within rounding of 0 changes nothing beyond rounding. ``worst`` is the
    largest distance, relative to the largest input of its op, between a kink and a float64 input that
    ours put on the other side of it (0 when every piece agrees); ``flips`` counts them."""

    def __init__(self, torch, pieces, guided=False):
        self.torch, self.guided = torch, guided
        self.masks, self.argmaxes = iter(pieces.masks), iter(pieces.argmaxes)
        self.worst, self.flips = 0.0, 0
        self.natural_relu = closed_form_relu(torch, "guided") if guided else torch.relu

    def audit(self, distance, x):
        self.flips += int(distance.numel())
        self.worst = max(self.worst, float(distance.max() / x.detach().abs().max()))

    def relu(self, x):
        mask = self.torch.from_numpy(next(self.masks))
        assert mask.shape == x.shape, "our pass ran another network"
        flipped = mask != (x > 0)
        if not flipped.any():  # the usual case: the same piece as float64's own
            return self.natural_relu(x)
        self.audit(x.detach()[flipped].abs(), x)
        return piece_relu(self.torch)(x, mask, self.guided)

    def max_pool(self, x, kernel, stride, padding):
        torch = self.torch
        argmax = torch.from_numpy(next(self.argmaxes))
        padded = torch.nn.functional.pad(x, (padding,) * 4, value=-numpy.inf)
        columns = torch.nn.functional.unfold(padded, kernel, stride=stride)
        windows = columns.view(x.shape[0], x.shape[1], kernel * kernel, *argmax.shape[-2:])
        assert argmax.shape == windows[:, :, 0].shape, "our pass ran another network"
        chosen = windows.gather(2, argmax[:, :, None]).squeeze(2)
        tau = torch.from_numpy(tie_tolerance(x.detach().numpy()))  # the rule lets ours take a value this close
        gap = windows.detach().max(dim=2).values - chosen.detach() - tau.reshape(-1, 1, 1, 1)
        if (gap > 0).any():
            self.audit(gap[gap > 0], x)
        return chosen

    def finished(self):
        """True when this pass replayed every piece ours recorded, no more and no fewer."""
        return next(self.masks, None) is None and next(self.argmaxes, None) is None
