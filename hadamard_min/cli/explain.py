"""``hadamard-explain``: explain a VQA model's answer with the Hadamard product (eq. 2-3, 9-11)."""
import sys
from pathlib import Path

import numpy

from hadamard_min.cli import explain_options
from hadamard_min.cli.checks import DEVICE_HELP, DEVICES, integer, path, path_or_stdout, question_text, use_device
from hadamard_min.cli.errors import Parser, UsageError, run
from hadamard_min.cli.parsing import HelpFormatter, add_version
from hadamard_min.cli.preset_options import add_preset_arguments
from hadamard_min.data.example import EXAMPLE_IMAGE, example_question
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.saved import MAX_TOP_K
from hadamard_min.io.atomic import json_text, together, write_text
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.outputs import PNG_SIGNATURE, check_outputs, check_replaceable

DEFAULT_FIGURE = Path("explanation.png")
PRESET_FILES = ("resnet", "mlb", "vocab", "answers", "mlb_sizes")


def parser():
    parser = Parser(
        prog="hadamard-explain",
        description="Explain a VQA model's answer with the Hadamard product (Kim & Zhang 2017): the visual "
                    "explanation ∇v = (V − F) ∂V/∂I with F held fixed and guided backprop through the ResNet "
                    "(eq. 2, 9), and each word's score from ∇q = (Q − F) ∂Q/∂q (eq. 3, 10, 11). With no "
                    "arguments it explains a shipped easy-VQA example with the shipped model and writes "
                    "explanation.png here.",
        epilog='example: hadamard-explain --image my.png --question "what color is it?" --out mine.png',
        formatter_class=HelpFormatter)
    parser.add_argument("--image", type=path, default=None,
                        help="image file (PNG, JPEG, …); default: the shipped easy-VQA example")
    parser.add_argument("--question", type=question_text, default=None,
                        help="the question; default: the shipped example's")
    parser.add_argument("--weights", type=path, default=None,
                        help="model file (.npz from hadamard-train); default: the shipped easy-VQA model")
    parser.add_argument("--out", type=path, default=None,
                        help="figure to write (PNG); default: explanation.png, or none with --json - (give --out "
                             "to write the figure and the maps too); a PNG already there is replaced, any other "
                             "file is refused")
    parser.add_argument("--json", type=path_or_stdout, default=None, metavar="FILE",
                        help="also write answer, probabilities, tokens, z-scores and the saved maps' paths as JSON "
                             "(- : to stdout, which then holds the JSON alone); the maps are saved as PNGs next "
                             "to --out (NAME_heatmap.png, …); as for --out, only a JSON or PNG file is replaced")
    parser.add_argument("--device", choices=DEVICES, default=None, help=DEVICE_HELP)
    parser.add_argument("--no-fix-f", dest="fix_f", action="store_false",
                        help="let gradients flow through F too (the paper's ablation)")
    parser.add_argument("--sign", choices=("paper", "code"), default="paper",
                        help="paper (default): push V − F as eq. 2-3 write it; code: F − V as the authors' script did")
    parser.add_argument("--plain", action="store_true", help="plain gradients through the ReLUs, not guided backprop")
    parser.add_argument("--top-k", type=integer(1, MAX_TOP_K), default=5, help="how many answers to list; default: 5")
    return add_version(add_preset_arguments(explain_options.add_arguments(parser)))


def main(argv=None):
    args = parser().parse_args(argv)
    return run(lambda: _explain(args), "hadamard-explain", extra_errors=(ExplainArgumentError,), device=args.device,
               writes_stdout=args.json == "-")


def map_paths(out, glimpses):
    """The maps saved next to ``out`` (with --json): {name: path}."""
    stem = out.with_suffix("")
    maps = {"pixel_map": Path(f"{stem}_pixel_map.png"), "heatmap": Path(f"{stem}_heatmap.png")}
    maps.update({f"alpha{g}": Path(f"{stem}_alpha{g}.png") for g in range(1, glimpses + 1)})
    return maps


def check_arguments(args):
    """Refuse arguments that contradict each other, before anything is loaded or written."""
    if args.preset is None:
        given = [f"--{name.replace('_', '-')}" for name in PRESET_FILES if getattr(args, name) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} belong to --preset mlb-vqa; add --preset mlb-vqa, or leave them out")
    else:
        if args.weights is not None:
            raise UsageError("--weights and --preset exclude each other: a preset builds its model from "
                             "--resnet, --mlb and --vocab")
        if args.batch is None and (args.image is None or args.question is None):
            raise UsageError(f"--preset {args.preset} explains your own photograph: give --image and --question")
    if args.out is not None and args.out.suffix.lower() != ".png":
        raise UsageError(f"--out must be a file name ending in .png, not {str(args.out)!r}")


def _inputs(args, image, shipped):
    from hadamard_min.io.model_files import manifest_path

    model = args.weights or (None if args.preset else shipped)
    files = {"image (--image)": image, "model (--weights)": model,
             "model's manifest": manifest_path(model) if model else None}
    files.update({f"file --{name}": getattr(args, name) for name in PRESET_FILES[:4]})
    return files


def _explain(args):
    from hadamard_min.cli.explain_batch import run_batch
    from hadamard_min.escapes import printable
    from hadamard_min.explain.terminal import terminal_tokens, use_color
    from hadamard_min.io.model_files import SHIPPED_MODEL, load_model
    from hadamard_min.io.porting import preset_model

    check_arguments(args)
    image = args.image if args.image is not None else EXAMPLE_IMAGE
    question = args.question if args.question is not None else example_question()
    explain_options.check(args, image)
    if args.batch is not None:
        use_device(args.device)
        return run_batch(args, preset_model(args) if args.preset else load_model(args.weights))
    figure = args.out if args.out is not None or args.json == "-" else DEFAULT_FIGURE  # None: no figure
    outputs = {**({"--out": figure} if figure else {}),
               **({"--json": Path(args.json)} if args.json not in (None, "-") else {}),
               **({"--save-arrays": args.save_arrays} if args.save_arrays else {})}
    check_outputs(outputs, _inputs(args, image, SHIPPED_MODEL))
    use_device(args.device)
    model = preset_model(args) if args.preset else load_model(args.weights)
    maps = map_paths(figure, model.mlb.config()["glimpses"]) if args.json and figure else {}
    pictures = {**({"--out": figure} if figure else {}),
                **{f"the map {path.name} (next to --out)": path for path in maps.values()}}
    check_outputs({**outputs, **pictures}, _inputs(args, image, SHIPPED_MODEL))
    check_replaceable(pictures, "a PNG image", PNG_SIGNATURE)
    check_replaceable({key: path for key, path in outputs.items() if key == "--json"}, "a JSON object", b"{")
    result = explain_options.explain_pairs(args, model, [image], [question])[0]
    arrays = [result.probability, result.alpha] + ([result.pixel_map] if result.pixel_map is not None else [])
    if not all(numpy.isfinite(values).all() for values in arrays):
        raise WeightsError("the model's output is not a number (NaN or infinity): its weights are broken; "
                           "restore or retrain them")
    if maps and result.pixel_map is None:  # Grad-CAM and attention have no gradient at the pixels
        del maps["pixel_map"]
    with together():  # every output written whole before the first is put in place: all of them or none
        if figure:
            explain_options.save_figure(figure, result, image.name, args.outlier_perc)
        if args.save_arrays:
            result.save(args.save_arrays)
        if args.json:
            text = _write_maps_and_json(args, result, image, figure, maps)
    report = sys.stderr if args.json == "-" else sys.stdout  # stdout carries the JSON alone
    colored = terminal_tokens(result.tokens, result.token_z, color=use_color(report))
    print(f"question: {colored}", file=report)
    print(f"answer:   {printable(result.answer)} (p = {result.probability:.3f})", file=report)
    print("top:      " + ", ".join(f"{printable(a)} {p:.3f}" for a, p in result.top_k), file=report)
    if result.method != "hadamard":
        print(f"method:   {result.method}" + (f", explaining “{printable(result.target)}”" if result.target else ""),
              file=report)
    if result.image.shape[:2] != (result.framing.input_size,) * 2:  # a note: stderr, like the one below
        margin = result.framing.margin_share(result.heatmap)  # pad: mass the figure cannot show
        print(f"note: {result.framing.note()}; the maps are brought back to {result.image.shape[1]}×"
              f"{result.image.shape[0]} bilinearly" + (f"; {100 * margin:.0f} % of the heat-map lies on the margin, "
                                                       "which no panel shows" if margin >= 0.005 else ""),
              file=sys.stderr)
    if result.unknown_words:  # a warning: stderr, whatever stdout carries
        print(f"note: words the model never saw in training were read as <unk>: "
              f"{', '.join(map(printable, result.unknown_words))}", file=sys.stderr)
    if figure:
        print(f"wrote {printable(figure)}", file=report)
    if args.save_arrays:
        print(f"wrote {printable(args.save_arrays)}", file=report)
    if args.json:
        if args.json == "-":
            sys.stdout.write(text)
        written = ([] if args.json == "-" else [args.json]) + ([f"{len(maps)} maps"] if maps else [])
        if written:
            print(f"wrote {' and '.join(map(printable, written))}", file=report)
    return 0


def _holds(stream, text):
    """Whether ``stream``'s encoding can write ``text`` (not so for "café" under an ASCII locale)."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _write_maps_and_json(args, result, image, figure, maps):
    """The maps next to the figure and, unless it goes to stdout, the --json file; returns the JSON text."""
    from hadamard_min.explain.maps import clipped, pixel_map_to_rgb, save_map_at_image

    if "pixel_map" in maps:
        save_map_at_image(maps["pixel_map"], pixel_map_to_rgb(result.pixel_map).transpose(2, 0, 1), result.framing)
    if maps:  # each map at the image's own size, bilinearly
        save_map_at_image(maps["heatmap"], clipped(result.heatmap, args.outlier_perc), result.framing)
        for g, alpha in enumerate(result.alpha, 1):
            save_map_at_image(maps[f"alpha{g}"], clipped(alpha, args.outlier_perc), result.framing)
    data = {**result.to_json(), "image": str(image), "figure": str(figure) if figure else None,
            "maps": {name: str(path) for name, path in maps.items()}}
    if args.json == "-":
        return json_text(data, ascii_only=not _holds(sys.stdout, json_text(data)))
    text = json_text(data)
    write_text(args.json, text)
    return text


if __name__ == "__main__":
    sys.exit(main())
