"""EfficientNet-Lite in plain torch (``torch.nn.functional`` on the state dict), the reference that the parity
tests and lesson 4 hold our network against. It shares no code with ``models/efficientnet.py``: padding is
``F.pad`` with TensorFlow's "same" amounts computed here, ReLU6 is an autograd Function whose backward is
written out for each rule, batch norm is ``F.batch_norm`` in eval mode.

Imported only where torch is installed; torch is never a runtime dependency.
"""
import math


def _same(size, kernel, stride):
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def torch_efficientnet_lite(torch, state, stages, rule="gradient", dtype=None):
    """``forward(x) -> logits`` of EfficientNet-Lite on ``state`` (name → array, efficientnet_pytorch's names).

    ``stages``: rows (repeats, kernel, stride, expansion, in, out). ``rule``: how ReLU6 passes back dy —
    "gradient" dy·[0<x<6], "guided" dy·[0<x<6]·[dy>0], "deconvnet" dy·[dy>0]. ``dtype``: torch dtype of the
    weights (default float64, the precision a float32 result is compared against).
    """
    functional = torch.nn.functional
    dtype = dtype or torch.float64
    weights = {name: torch.as_tensor(array).to(dtype) for name, array in state.items()
               if not name.endswith("num_batches_tracked")}

    class ReLU6(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(0, 6)

        @staticmethod
        def backward(ctx, dy):
            (x,) = ctx.saved_tensors
            inside = (x > 0) & (x < 6)
            if rule == "gradient":
                return dy * inside
            if rule == "guided":
                return dy * inside * (dy > 0)
            return dy * (dy > 0)

    def conv(x, name, stride=1, groups=1):
        weight = weights[f"{name}.weight"]
        kernel = weight.shape[-1]
        (top, bottom), (left, right) = _same(x.shape[2], kernel, stride), _same(x.shape[3], kernel, stride)
        return functional.conv2d(functional.pad(x, (left, right, top, bottom)), weight, stride=stride, groups=groups)

    def bn(x, name):
        return functional.batch_norm(x, weights[f"{name}.running_mean"], weights[f"{name}.running_var"],
                                     weights[f"{name}.weight"], weights[f"{name}.bias"], False, 0.0, 1e-3)

    def forward(x, keep_features=None):
        """Logits of x; ``keep_features`` (a list) receives the head's map, its gradient retained."""
        x = ReLU6.apply(bn(conv(x, "_conv_stem", 2), "_bn0"))
        index = 0
        for repeats, _, stride, expansion, _, _ in stages:
            for r in range(repeats):
                block = f"_blocks.{index}"
                h = x
                if expansion != 1:
                    h = ReLU6.apply(bn(conv(h, f"{block}._expand_conv"), f"{block}._bn0"))
                h = ReLU6.apply(bn(conv(h, f"{block}._depthwise_conv", stride if r == 0 else 1, groups=h.shape[1]),
                                   f"{block}._bn1"))
                h = bn(conv(h, f"{block}._project_conv"), f"{block}._bn2")
                x = h + x if h.shape == x.shape and (r > 0 or stride == 1) else h
                index += 1
        x = ReLU6.apply(bn(conv(x, "_conv_head"), "_bn1"))
        if keep_features is not None:
            x.retain_grad()
            keep_features.append(x)
        return functional.linear(x.mean(dim=(2, 3)), weights["_fc.weight"], weights["_fc.bias"])

    return forward
