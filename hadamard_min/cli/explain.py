"""``hadamard-explain``: explain a VQA model's answer with the Hadamard product (eq. 2-3, 9-11)."""
import argparse
import sys
from pathlib import Path

from hadamard_min.cli.errors import dump_json, run
from hadamard_min.core.backend import set_device
from hadamard_min.io.porting.preset import add_preset_arguments

EXAMPLE_IMAGE = Path(__file__).resolve().parent.parent / "assets" / "example.png"
EXAMPLE_QUESTION_FILE = EXAMPLE_IMAGE.with_suffix(".txt")


def parser():
    parser = argparse.ArgumentParser(
        prog="hadamard-explain",
        description="Explain a VQA model's answer with the Hadamard product (Kim & Zhang 2017): the visual "
                    "explanation ∇v = (V − F) ∂V/∂I with F held fixed and guided backprop through the ResNet "
                    "(eq. 2, 9), and each word's score from ∇q = (Q − F) ∂Q/∂q (eq. 3, 10, 11). With no "
                    "arguments it explains a shipped easy-VQA example with the shipped model and writes "
                    "explanation.png here.")
    parser.add_argument("--image", type=Path, default=None,
                        help="image file (PNG, JPEG, …); default: the shipped easy-VQA example")
    parser.add_argument("--question", default=None, help="the question; default: the shipped example's")
    parser.add_argument("--weights", type=Path, default=None,
                        help="model file (.npz from hadamard-train); default: weights/easyvqa_mlb.npz")
    parser.add_argument("--out", type=Path, default=Path("explanation.png"),
                        help="figure to write (PNG); default: explanation.png")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write answer, probabilities, tokens, z-scores and the saved maps' paths as JSON; "
                             "the maps are saved as PNGs next to --out")
    parser.add_argument("--device", choices=("cpu", "gpu"), default=None, help="default: $HADAMARD_DEVICE or cpu")
    parser.add_argument("--no-fix-f", dest="fix_f", action="store_false",
                        help="let gradients flow through F too (the paper's ablation)")
    parser.add_argument("--sign", choices=("paper", "code"), default="paper",
                        help="paper (default): push V − F as eq. 2-3 write it; code: F − V as the authors' script did")
    parser.add_argument("--plain", action="store_true", help="plain gradients through the ReLUs, not guided backprop")
    parser.add_argument("--top-k", type=int, default=5, help="how many answers to list; default: 5")
    return add_preset_arguments(parser)


def main(argv=None):
    args = parser().parse_args(argv)
    return run(lambda: _explain(args), "hadamard-explain")


def _check_outputs(args, image_path):
    """Refuse outputs that would overwrite the input image or land in a folder that does not exist."""
    outputs = [args.out] + ([args.json] if args.json else [])
    for out in outputs:
        if image_path is not None and out.resolve() == image_path.resolve():
            raise FileExistsError(f"{out} is the input image; choose another output name")
        if not out.resolve().parent.is_dir():
            raise FileNotFoundError(f"output folder does not exist: {out.resolve().parent} (create it first)")
    if args.out.suffix.lower() != ".png":
        raise FileExistsError(f"--out must be a .png file, not {args.out.name}")


def _explain(args):
    from hadamard_min.explain.figure import save_explanation_figure
    from hadamard_min.explain.hadamard import explain
    from hadamard_min.explain.maps import pixel_map_to_rgb, save_map_png
    from hadamard_min.explain.terminal import terminal_tokens
    from hadamard_min.io.model_files import load_model
    from hadamard_min.io.porting import preset_model

    if args.device:
        set_device(args.device)
    if args.preset and (args.image is None or args.question is None):
        raise FileNotFoundError(f"--preset {args.preset} explains your own photograph: give --image and --question")
    image = args.image if args.image is not None else EXAMPLE_IMAGE
    question = args.question if args.question is not None else EXAMPLE_QUESTION_FILE.read_text().strip()
    _check_outputs(args, image)
    model = preset_model(args) if args.preset else load_model(args.weights)
    result = explain(model, image, question, fix_f=args.fix_f, sign=args.sign, guided=not args.plain,
                     top_k=args.top_k)
    save_explanation_figure(args.out, result.image, result.alpha, result.pixel_map, result.tokens, result.token_z,
                            result.answer, result.probability, top_k=result.top_k, heatmap=result.heatmap,
                            title=f"{image.name}: {question}")
    print(f"question: {terminal_tokens(result.tokens, result.token_z, color=sys.stdout.isatty())}")
    print(f"answer:   {result.answer} (p = {result.probability:.3f})")
    print("top:      " + ", ".join(f"{a} {p:.3f}" for a, p in result.top_k))
    if result.unknown_words:
        print(f"note: words the model never saw in training were read as <unk>: {', '.join(result.unknown_words)}")
    print(f"wrote {args.out}")
    if args.json:
        stem = args.out.with_suffix("")
        maps = {"pixel_map": f"{stem}_pixel_map.png", "heatmap": f"{stem}_heatmap.png"}
        save_map_png(maps["pixel_map"], pixel_map_to_rgb(result.pixel_map))
        save_map_png(maps["heatmap"], result.heatmap, normalize=True)
        for g, alpha in enumerate(result.alpha, 1):
            maps[f"alpha{g}"] = f"{stem}_alpha{g}.png"
            save_map_png(maps[f"alpha{g}"], alpha, normalize=True)
        with open(args.json, "w") as f:
            dump_json({**result.to_json(), "image": str(image), "figure": str(args.out), "maps": maps}, f)
        print(f"wrote {args.json} and {len(maps)} maps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
