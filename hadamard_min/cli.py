"""Command lines: ``hadamard-explain`` (the main job) and ``hadamard-train``.

Every error a user can cause (a missing file, a bad image, an empty question, no GPU) ends as one
line on stderr and exit status 2; nothing the user gave is overwritten.
"""
import argparse
import json
import shlex
import sys
from pathlib import Path

from .backend import DeviceError, set_device
from .data import DataError
from .images import ImageError
from .porting.preset import add_preset_arguments
from .text import QuestionError, VocabularyError
from .weights import WeightsError

USER_ERRORS = (DeviceError, DataError, ImageError, QuestionError, VocabularyError, WeightsError,
               FileExistsError, FileNotFoundError, IsADirectoryError, PermissionError)


def run(main, prog):
    """Run ``main``; turn a user error into one line and exit status 2, Ctrl-C into status 130."""
    try:
        return main()
    except USER_ERRORS as error:
        message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        if isinstance(error, OSError) and error.filename:
            message = f"{message}: {error.filename}"
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130


# ------------------------------------------------------------------------------------------ train
def train_parser():
    from .train import DEFAULT_CONFIG, TrainSettings
    defaults = TrainSettings()
    parser = argparse.ArgumentParser(
        prog="hadamard-train",
        description="Train the VQA model (small ResNet + GRU + MLB attention) on easy-VQA with the engine itself. "
                    "Writes OUT (weights, config, vocabulary, answers) and OUT's manifest .json (sha256, command, "
                    "seed, versions, time, test accuracy); a checkpoint OUT-stem.checkpoint.npz after every epoch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("easyvqa_mlb.npz"), help="model file to write (.npz)")
    parser.add_argument("--data", choices=("easy-vqa", "two-shape"), default="easy-vqa", help="data set")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-images", type=int, default=defaults.batch_images,
                        help="images per step (each brings all of its questions)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate")
    parser.add_argument("--clip", type=float, default=defaults.clip, help="gradient norm clipping")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--limit-images", type=int, default=0, help="train on the first N images only (0: all)")
    parser.add_argument("--width", type=int, default=DEFAULT_CONFIG["backbone"]["width"], help="ResNet width")
    parser.add_argument("--joint-dim", type=int, default=DEFAULT_CONFIG["joint_dim"], help="MLB joint size")
    parser.add_argument("--stop-after", type=int, default=0,
                        help="stop after this many epochs and write OUT; the learning-rate schedule still spans "
                             "--epochs, and --resume continues it (0: run all epochs)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT's checkpoint")
    parser.add_argument("--force", action="store_true", help="overwrite an existing OUT")
    parser.add_argument("--device", choices=("cpu", "gpu"), default=None, help="default: $HADAMARD_DEVICE or cpu")
    return parser


def train_main(argv=None):
    args = train_parser().parse_args(argv)
    return run(lambda: _train(args, argv), "hadamard-train")


def _train(args, argv):
    from .train import DEFAULT_CONFIG, TrainSettings, train

    if args.device:
        set_device(args.device)
    out = args.out
    if out.suffix != ".npz":
        raise WeightsError(f"--out must end in .npz, not {out.name}")
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it, or choose another --out")
    checkpoint = out.with_name(out.stem + ".checkpoint.npz")
    if args.resume and not checkpoint.exists():
        raise FileNotFoundError(f"nothing to resume: no checkpoint {checkpoint}")
    settings = TrainSettings(epochs=args.epochs, batch_images=args.batch_images, lr=args.lr, clip=args.clip,
                             seed=args.seed, stop_after=args.stop_after, limit_images=args.limit_images)
    config = {**DEFAULT_CONFIG, "backbone": {**DEFAULT_CONFIG["backbone"], "width": args.width},
              "joint_dim": args.joint_dim}
    command = "hadamard-train " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        manifest = train(out, config, settings, resume_from=checkpoint if args.resume else None, command=command,
                         dataset=_dataset(args.data))
    except KeyboardInterrupt:
        where = f"last good checkpoint: {checkpoint} (continue with --resume)" if checkpoint.exists() else \
            "no epoch finished, nothing saved"
        print(f"\nhadamard-train: interrupted; {where}", file=sys.stderr)
        return 130
    test = manifest["test_accuracy"]
    print(f"wrote {out} (sha256 {manifest['sha256'][:12]}…) in {manifest['training_seconds']:.0f} s")
    print("test accuracy: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "count"))
    return 0


def _dataset(name):
    from .data import load_easy_vqa
    if name == "easy-vqa":
        return load_easy_vqa
    from .twoshape import load_two_shape
    return load_two_shape


def _json_default(value):
    return value.tolist() if hasattr(value, "tolist") else str(value)


def dump_json(data, stream=sys.stdout):
    json.dump(data, stream, indent=2, default=_json_default)
    stream.write("\n")


# ---------------------------------------------------------------------------------------- explain
EXAMPLE_IMAGE = Path(__file__).resolve().parent / "assets" / "example.png"
EXAMPLE_QUESTION_FILE = EXAMPLE_IMAGE.with_suffix(".txt")


def explain_parser():
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


def explain_main(argv=None):
    args = explain_parser().parse_args(argv)
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
    from .checkpoint import load_model
    from .explain import explain
    from .porting import preset_model
    from .viz import pixel_map_to_rgb, save_explanation_figure, save_map_png, terminal_tokens

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
