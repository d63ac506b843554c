"""hadamard-explain's choice of method, the answer to explain, arrays out, and the batch mode's options."""
from pathlib import Path

from hadamard_min.cli.checks import integer, number, path
from hadamard_min.cli.errors import UsageError
from hadamard_min.cli.parsing import add_workers
from hadamard_min.explain.figure import save_figure as save_figure_png
from hadamard_min.explain.framing import FITS
from hadamard_min.explain.maps import OUTLIER_PERC
from hadamard_min.explain.methods import ANSWER_METHODS, METHODS, MethodError, explain_batch
from hadamard_min.explain.notebook import plot_explanation
from hadamard_min.explain.saved import check_destination

OUT_DIR, BATCH_SIZE = Path("explanations"), 16  # --batch's defaults, filled in by check once the flags are read
BATCH_ONLY = ("out_dir", "batch_size", "workers")  # options that mean nothing without --batch


def add_arguments(parser):
    """--method, --answer, --save-arrays, and the batch mode's --batch, --out-dir and --batch-size."""
    parser.add_argument("--method", choices=METHODS, default="hadamard",
                        help="hadamard: the paper's explanation (default); guided: guided backprop; saliency: "
                             "the plain gradient; gradcam: Grad-CAM; grounded: Σ_c |∇v^α| ∘ mean α, the paper's map "
                             "where the question looks; attention: the mean of the α maps")
    parser.add_argument("--answer", metavar="A",
                        help=f"the answer to explain ({', '.join(ANSWER_METHODS)}); default: the model's own")
    parser.add_argument("--save-arrays", type=path, metavar="FILE.npz",
                        help="also save ∇v, ∇q, pixel map, heat-map, α, token scores, z-scores and the image as "
                             "NumPy arrays (Explanation.load reads them back)")
    parser.add_argument("--fit", choices=FITS, default=None,
                        help="how the image becomes the model's square input: stretch (the whole image, aspect "
                             "ratio changed), pad (kept, a margin of the mean colour added) or crop (kept, the "
                             "centre square); default: the model's own (the easy-VQA model stretches). The maps "
                             "are brought back to the image's own size bilinearly")
    parser.add_argument("--outlier-perc", type=number(0, 100, low_inclusive=True, high_inclusive=False),
                        default=OUTLIER_PERC, metavar="P",
                        help=f"clip each map's scale where its largest values make up P %% of its mass, as "
                             f"Captum's outlier_perc (0: scale by the maximum); default: {OUTLIER_PERC:g}")
    batch = parser.add_argument_group("batch mode (many pairs from a file)")
    batch.add_argument("--batch", type=path, metavar="PAIRS.jsonl",
                       help='explain every line {"image": PATH, "question": TEXT} of a JSON Lines file (image '
                            "paths relative to the file's folder); blank lines are skipped; a bad line, a '#' "
                            "comment included (JSON Lines has none), is reported and skipped; a file, not -")
    batch.add_argument("--out-dir", type=path, default=None, metavar="DIR",
                       help=f"--batch: a new or empty folder for results.jsonl and one figure per line; default: "
                            f"{OUT_DIR}")
    batch.add_argument("--batch-size", type=integer(1), default=None,
                       help=f"pairs per forward pass; default: {BATCH_SIZE}")
    add_workers(batch, "the chunks of --batch-size pairs")
    return parser


def check(args, image_path):
    """Refuse options that do not fit together, before any work; then fill in the batch mode's defaults."""
    if args.batch is None:  # one image: a folder, a chunk size or workers given for a batch would go unused
        given = [f"--{name.replace('_', '-')}" for name in BATCH_ONLY if getattr(args, name) is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: for --batch PAIRS.jsonl only; add --batch, or leave them out "
                             f"(one image writes --out, --json and --save-arrays)")
    else:
        if str(args.batch) == "-":  # read as a file named "-": "not found: -" told nothing
            raise UsageError("--batch -: the pairs are not read from standard input; save them to a file and give "
                             "its name (a file named -: its full path)")
        given = [flag for flag, value in (("--image", args.image), ("--question", args.question),
                                          ("--json", args.json), ("--save-arrays", args.save_arrays),
                                          ("--out", args.out)) if value]
        if given:
            raise UsageError(f"--batch reads images and questions from {args.batch.name}; drop {', '.join(given)}")
    args.out_dir = OUT_DIR if args.out_dir is None else args.out_dir
    args.batch_size = BATCH_SIZE if args.batch_size is None else args.batch_size
    if args.save_arrays is not None:
        if args.save_arrays.suffix != ".npz":  # as save_weights writes it: lower case
            raise UsageError(f"--save-arrays must be an .npz file, not {args.save_arrays.name}")
        if image_path is not None and args.save_arrays.resolve() == Path(image_path).resolve():
            raise FileExistsError(f"{args.save_arrays} is the input image; choose another output name")
        if not args.save_arrays.resolve().parent.is_dir():
            raise FileNotFoundError(f"output folder does not exist: {args.save_arrays.resolve().parent} "
                                    f"(create it first)")
        check_destination(args.save_arrays, "--save-arrays")  # before the figure: all outputs or none
    method_options(args)


def method_options(args):
    """The hadamard options (F fixed, sign, guided) for :func:`explain_batch`; refused for other methods."""
    if args.method == "hadamard":
        return {"fix_f": args.fix_f, "sign": args.sign, "guided": not args.plain}
    changed = [flag for flag, on in (("--no-fix-f", not args.fix_f), ("--sign", args.sign != "paper"),
                                     ("--plain", args.plain)) if on]
    if changed:
        raise MethodError(f"{', '.join(changed)}: only for --method hadamard, not {args.method}")
    return {}


def explain_pairs(args, model, images, questions, progress=False):
    """Explanations of the pairs by the chosen method, ``--batch-size`` at a time, in this process (the batch
    mode shares its chunks among processes itself)."""
    return explain_batch(model, images, questions, method=args.method, answer=args.answer, top_k=args.top_k,
                         batch_size=args.batch_size, progress=progress, fit=args.fit, workers=1,
                         **method_options(args))


def save_figure(path, result, image_name, outlier_perc=OUTLIER_PERC):
    """The figure of ``result`` at ``path`` (PNG, written atomically), titled by the image and question."""
    title = f"{image_name}: {result.question}"
    if result.target is not None:
        title += f"   ({result.method} of “{result.target}”)"
    elif result.method != "hadamard":
        title += f"   ({result.method})"
    return save_figure_png(plot_explanation(result, title=title, outlier_perc=outlier_perc), path)
