"""``hadamard-evaluate``: measure the explanation against baselines and write a report folder.

    hadamard-evaluate --data easy-vqa --examples 200 --seed 0 --out evaluation/

writes OUT/report.md, OUT/results.json, OUT/examples.png, OUT/deletion_curves.png, OUT/sanity_check.png,
shows progress on stderr and prints the main tables on stdout. The same seed gives the same numbers.
``--quick`` takes a first look: 32 questions and the sanity check on 8 (wide intervals).
"""
import contextlib
import shlex
import sys
import time
from pathlib import Path

from hadamard_min.cli.checks import DEVICE_HELP, DEVICES, SEED, integer, path, path_text, use_device
from hadamard_min.cli.errors import Parser, run
from hadamard_min.cli.parsing import HelpFormatter, add_version, add_workers
from hadamard_min.escapes import printable
from hadamard_min.evaluate.report import REPORT_FILES, REPORT_TITLE, main_tables, write_report
from hadamard_min.evaluate.run import DEFAULT_EXAMPLES, EvaluationSettings, evaluate
from hadamard_min.io.model_files import SHIPPED_MODEL, SHIPPED_TWO_SHAPE_MODEL, load_model, manifest_path, sha256_of
from hadamard_min.io.outputs import PNG_SIGNATURE, check_outputs, check_replaceable

QUICK = EvaluationSettings(examples=32, sanity_examples=8)  # --quick: a first look
DATA_SETS = {"easy-vqa": ("easy-VQA", SHIPPED_MODEL),
             "two-shape": ("two-shape", SHIPPED_TWO_SHAPE_MODEL)}


def parser():
    p = Parser(
        prog="hadamard-evaluate",
        description="Does the explanation explain? Compare the Hadamard explanation with attention, "
                    "saliency, guided backprop, Grad-CAM and random floors on test questions: pointing game, "
                    "mass in mask, token grounding, deletion, the randomisation sanity check and (two-shape "
                    "data) question dependence. Writes OUT/report.md, OUT/results.json and figures.",
        epilog="example: hadamard-evaluate --examples 50 --out evaluation",
        formatter_class=HelpFormatter)
    p.add_argument("--weights", type=path, default=None,
                   help="model file (.npz); default: the shipped model for --data")
    p.add_argument("--data", type=path_text, default="easy-vqa", metavar="easy-vqa|two-shape|DIR",
                   help="test data set, or your own: a folder DIR with images, questions.jsonl "
                        '({"image", "question", "answer"} lines) and optional masks/ (see hadamard_min.data.folder)')
    p.add_argument("--examples", type=integer(1, 1_000_000), default=None,
                   help=f"test questions to evaluate (default {DEFAULT_EXAMPLES}, a few minutes on 2 CPU cores; "
                        f"{QUICK.examples} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"a first look: {QUICK.examples} questions (unless --examples) and the sanity check on "
                        f"{QUICK.sanity_examples}; wide intervals, for a number that matters run without it")
    p.add_argument("--seed", type=SEED, default=0,
                   help="seed of the sample, the random floor and the bootstrap")
    p.add_argument("--out", type=path, default=Path("evaluation"), help="report folder")
    p.add_argument("--force", action="store_true",
                   help="write into an existing non-empty OUT, replacing an earlier report's files there (another "
                        "file under a report's name is refused)")
    p.add_argument("--device", choices=DEVICES, default=None, help=DEVICE_HELP)
    add_workers(p, "the batches of questions")
    return add_version(p)


def load_data(name):
    if name not in DATA_SETS:
        from hadamard_min.data.folder import load_folder
        return load_folder(name)
    if name == "easy-vqa":
        from hadamard_min.data.easyvqa import load_easy_vqa
        return load_easy_vqa("test")
    from hadamard_min.data.twoshape import load_two_shape
    return load_two_shape("test")


def prepare_out(out, force, weights, data_files=()):
    """Create ``out``; an existing non-empty folder only with ``force``, whose files under a report's names are
    an earlier report's (your notes in a report.md stay); no report file may be ``weights``, its manifest, or a
    file of the data (``--data DIR``'s listing, images and masks)."""
    if out.is_symlink() and not out.exists():
        raise FileExistsError(f"--out {out} is a link to nothing: choose a folder name")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file: choose a folder name")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists and is not empty; pass --force to write into it, or choose "
                              f"another --out")
    out.mkdir(parents=True, exist_ok=True)
    inputs = {"--weights": weights, "the model's manifest": manifest_path(weights)}
    inputs |= {f"--data's {path}": path for path in data_files}  # whole paths: two files may share a name
    check_outputs({f"--out's {name}": out / name for name in REPORT_FILES}, inputs)
    replaceable = {"results.json": ("a JSON object", b"{"), "report.md": ("a report", REPORT_TITLE.encode())}
    for name in REPORT_FILES:  # --force replaces an earlier report's files, not your notes under their names
        kind, start = replaceable.get(name, ("a PNG image", PNG_SIGNATURE))
        check_replaceable({f"--out's {name}": out / name}, kind, start)


def command_line(args):
    """The command that reproduces the numbers (the output folder and device do not change them)."""
    weights = [] if args.weights is None else ["--weights", str(args.weights)]
    return "hadamard-evaluate " + shlex.join([*weights, "--data", args.data, "--examples", str(args.examples),
                                              "--seed", str(args.seed), *(["--quick"] if args.quick else [])])


def settings(args):
    """The evaluation's settings: ``--examples`` (its default, or --quick's) and --quick's smaller sanity check."""
    if args.examples is None:
        args.examples = QUICK.examples if args.quick else DEFAULT_EXAMPLES
    sanity = QUICK.sanity_examples if args.quick else EvaluationSettings.sanity_examples
    return EvaluationSettings(examples=args.examples, seed=args.seed, sanity_examples=sanity)


def _evaluate(args):
    use_device(args.device)
    chosen = settings(args)
    data_name, shipped = DATA_SETS.get(args.data, (Path(args.data).resolve().name, SHIPPED_MODEL))
    weights = args.weights or shipped
    model = load_model(weights)
    data = load_data(args.data)  # before the folder is made: bad data leaves nothing behind
    if args.data not in DATA_SETS:
        from hadamard_min.data.folder import check_question_lengths
        check_question_lengths(data, model.max_length)
    made = [folder for folder in (args.out, *args.out.parents) if not folder.exists()]  # deepest first
    try:  # stopped (Ctrl-C, an error) before its report: the folders it made, still empty, go again
        prepare_out(args.out, args.force, weights, getattr(data, "files", ()))
        started = time.perf_counter()
        print(f"evaluating {weights.name} on {min(args.examples, len(data))} {data_name} test questions",
              file=sys.stderr)
        results, figure = evaluate(model, data, chosen, workers=args.workers)
        for note in results["notes"]:
            print(f"note: {note}", file=sys.stderr)
        results["settings"]["data_name"] = data_name
        results["model"] = {"file": weights.name, "sha256": sha256_of(weights)}
        write_report(args.out, results, figure, command_line(args))
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):  # one that holds anything stays
                folder.rmdir()
        raise
    visual, text = main_tables(results)
    print(f"{command_line(args)}\n\nvisual explanations (mean [95 % CI])\n{visual}\n\n"
          f"textual explanations (mean [95 % CI])\n{text}")
    print(f"wrote {printable(args.out)}/report.md and results.json in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return 0


def main(argv=None):
    """Entry point of ``hadamard-evaluate``; returns the exit status."""
    args = parser().parse_args(argv)
    return run(lambda: _evaluate(args), "hadamard-evaluate", device=args.device)


if __name__ == "__main__":
    sys.exit(main())
