"""Lesson 4: ResNet-152, the paper's image network, and guided backprop down to the pixels.

Part 1. Size. A convolution with O filters of C×k×k weights, producing an Ho×Wo map, costs
O·C·k·k·Ho·Wo multiply-adds; summing that over the 155 convolutions (and the final 2048→1000
linear layer) gives the cost of one image. The image side doubles from 224 to 448, every map
doubles with it, so the cost is 4× at 448, while the 60,192,808 parameters stay the same.

Part 2. Weights. Our parameter names are torchvision's (``layer3.35.conv2.weight``), so a
checkpoint ports name by name: here a file made by this lesson (``save_weights``) is read back by
``load_weights`` into a second network, and, where PyTorch is installed, into a plain-torch copy
of the network whose output must match ours.

Part 3. Explanation. The plain gradient ∂score/∂image passes back dy·[x > 0] at every ReLU;
guided backprop passes back dy·[x > 0]·[dy > 0], dropping negative signals at each of the 151
ReLUs. On a real image (from easy-VQA) the guided map shows the shape and correlates with the
image, while the plain gradient is speckled all over and does not, even with random weights
(whose batch norms we calibrate on random images, so that each one standardises its input as a
trained network's would).

Run:  python lessons/04_resnet152_guided_backprop.py [--out DIR]
(after ``pip install -e .``, or with ``PYTHONPATH=.``); the figure is DIR/guided_vs_plain.png.
"""
import argparse
import contextlib
import os
import tempfile
import time

import numpy

from hadamard_min import Tensor, guided_backprop, no_grad
from hadamard_min.data.images import deprocess, preprocess
from hadamard_min.io.weights import load_weights, save_weights
from hadamard_min.models import resnet152
from hadamard_min.models.resnet import calibrate_batchnorm

TORCHVISION_PARAMETERS = 60_192_808   # torchvision.models.resnet152(): sum(p.numel() for p in parameters())
TORCHVISION_GMACS_224 = 11.51         # torchvision's documented "GFLOPS" of resnet152 (multiply-adds)


def multiply_adds(model, size):
    """Multiply-adds of one size×size image, from the conv shapes: Σ O·C·k·k·Ho·Wo, plus the fc layer."""
    def out(h, conv):
        k = conv.weight.shape[2]
        return (h + 2 * conv.padding - k) // conv.stride + 1

    def cost(conv, h):
        o, c, k, _ = conv.weight.shape
        return o * c * k * k * out(h, conv) ** 2

    total = cost(model.conv1, size)
    h = (out(size, model.conv1) + 2 - 3) // 2 + 1          # max-pool 3×3, stride 2, padding 1
    for block in model.blocks():
        h_mid = out(h, block.conv2)
        total += cost(block.conv1, h) + cost(block.conv2, h) + cost(block.conv3, h_mid)
        if block.downsample is not None:
            total += cost(block.downsample[0], h)
        h = h_mid
    return total + model.fc.weight.size


def size_part(model, rows):
    params = model.num_parameters()
    print(f"ResNet-152: {len(model.blocks())} bottleneck blocks in stages of {list(model.layers)}, "
          f"{params:,} parameters")
    for size in (224, 448):
        macs = multiply_adds(model, size)
        print(f"  {size}×{size}: {macs / 1e9:6.2f} G multiply-adds = {2 * macs / 1e9:6.2f} GFLOP")
    rows.append(("parameters vs torchvision", params, TORCHVISION_PARAMETERS, 0))
    rows.append(("G multiply-adds @224 vs torchvision", multiply_adds(model, 224) / 1e9,
                 TORCHVISION_GMACS_224, 0.01))
    ratio = multiply_adds(model, 448) / multiply_adds(model, 224)
    rows.append(("multiply-adds @448 / @224", ratio, 4.0, 0.01))


def porting_part(model, image, folder, rows):
    path = os.path.join(folder, "resnet152_random.npz")
    start = time.perf_counter()
    save_weights(path, model.state_dict())
    arrays = load_weights(path)
    ported = resnet152(rng=numpy.random.default_rng(99)).eval().requires_grad_(False)
    ported.load_state_dict(arrays, source=path)
    print(f"\nsaved and ported {len(arrays)} arrays ({os.path.getsize(path) / 2**20:.0f} MiB) "
          f"in {time.perf_counter() - start:.1f} s")
    worst = max(float(numpy.abs(ported.state_dict()[k] - v).max()) for k, v in model.state_dict().items())
    rows.append(("ported vs saved arrays", worst, 0.0, 0))
    x = Tensor(image[None])
    with no_grad():
        ours = model(x).numpy()
        rows.append(("ported vs original logits", ported(x).numpy(), ours, 0))
    compare_with_torch(arrays, image, ours, rows)


def compare_with_torch(arrays, image, ours, rows):
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: the comparison with it is skipped (pip install '.[parity]')")
        return
    from hadamard_min.oracle.torch_models import torch_resnet
    net = torch_resnet(torch, (3, 8, 36, 3))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=False)
    with torch.no_grad():
        theirs = net.eval()(torch.from_numpy(image[None])).numpy()
    print(f"PyTorch {torch.__version__} on the same file: top class {int(theirs.argmax())}, ours "
          f"{int(ours.argmax())}")
    rows.append(("logits vs PyTorch (relative)", numpy.abs(ours - theirs).max() / numpy.abs(theirs).max(),
                 0.0, 1e-4))


def gradients(model, image):
    """∂ score/∂ image for the top class, plain and guided."""
    maps = {}
    for name in ("plain", "guided"):
        x = Tensor(image[None], requires_grad=True)
        logits = model(x)
        seed = numpy.zeros(logits.shape, dtype=numpy.float32)
        seed[0, int(logits.numpy().argmax())] = 1
        with guided_backprop() if name == "guided" else contextlib.nullcontext():  # the rule of backward
            logits.backward(seed)
        maps[name] = x.grad[0]
    return maps


def correlation_with_image(gradient, image):
    """Pearson correlation of the gradient with the image (each colour minus its mean), over all pixels."""
    centred = image - image.mean(axis=(1, 2), keepdims=True)
    return float(numpy.corrcoef(gradient.ravel(), centred.ravel())[0, 1])


def to_picture(gradient):
    """Gradient (3, H, W) → RGB in [0, 1], zero at mid-grey, scaled by its 99th percentile."""
    scale = numpy.percentile(numpy.abs(gradient), 99) or 1.0
    return numpy.clip(0.5 + 0.5 * gradient.transpose(1, 2, 0) / scale, 0, 1)


def save_figure(image, maps, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.3))
    FigureCanvasAgg(figure)
    panels = [("image (224×224)", deprocess(image)), ("plain gradient", to_picture(maps["plain"])),
              ("guided backprop", to_picture(maps["guided"]))]
    for k, (title, picture) in enumerate(panels):
        axes = figure.add_subplot(1, 3, k + 1)
        axes.imshow(picture)
        axes.set_title(title)
        axes.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def explanation_part(model, image, out, rows):
    maps = gradients(model, image)
    plain = correlation_with_image(maps["plain"], image)
    guided = correlation_with_image(maps["guided"], image)
    print(f"\ncorrelation with the image itself: plain gradient {plain:.3f}, guided backprop {guided:.3f}")
    path = os.path.join(out, "guided_vs_plain.png")
    save_figure(image, maps, path)
    print(f"figure: {path}")
    rows.append(("correlation with image: guided, plain", guided, plain, None))


def main(argv=None):
    parser = argparse.ArgumentParser(description="ResNet-152: size, weight porting, guided backprop.")
    parser.add_argument("--out", default=".", help="folder for guided_vs_plain.png (default: here)")
    args = parser.parse_args(argv)
    import easy_vqa
    paths = easy_vqa.get_test_image_paths()
    image = preprocess(paths[sorted(paths)[4]], size=224)

    rng = numpy.random.default_rng(0)
    model = resnet152(rng=rng).eval().requires_grad_(False)
    calibrate_batchnorm(model, rng.standard_normal((2, 3, 224, 224)).astype(numpy.float32))
    rows = []
    size_part(model, rows)
    with tempfile.TemporaryDirectory() as folder:
        porting_part(model, image, folder, rows)
    explanation_part(model, image, args.out, rows)

    print(f"\n{'comparison':<38} {'ours':>12} {'reference':>12}  expected")
    for name, ours, reference, tolerance in rows:
        if numpy.ndim(ours) > 0:
            ours, reference = float(numpy.abs(ours - reference).max()), 0.0
        if tolerance is None:
            expected, ok = "ours > reference + 0.05", ours > reference + 0.05
        else:
            expected = "equal" if tolerance == 0 else f"within {tolerance:g}"
            ok = abs(ours - reference) <= tolerance * max(1.0, abs(reference))
        print(f"{name:<38} {ours:12.6g} {reference:12.6g}  {expected}")
        if not ok:
            raise SystemExit(f"unexpected result for {name!r}: {ours} vs {reference}")


if __name__ == "__main__":
    main()
