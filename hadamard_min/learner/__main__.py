"""``python -m hadamard_min.learner DIR``: the shipped model's explanation on the learner's ops (the capstone)."""
import sys
from pathlib import Path

from hadamard_min.cli.checks import path
from hadamard_min.cli.errors import Parser, run
from hadamard_min.cli.explain_options import save_figure
from hadamard_min.cli.parsing import HelpFormatter, add_version
from hadamard_min.data.example import EXAMPLE_IMAGE, EXAMPLE_QUESTION
from hadamard_min.escapes import printable
from hadamard_min.explain.maps import FigureInputError
from hadamard_min.io.model_files import SHIPPED_MODEL, manifest_path
from hadamard_min.io.outputs import check_outputs
from hadamard_min.learner.capstone import compare
from hadamard_min.learner.ops import OPS, LearnerError

PROG = "python -m hadamard_min.learner"


def parser():
    parser = Parser(prog=PROG, description="Explain the shipped example with the ops you wrote in the exercises "
                                           "and compare with the package's: answers, ∇v, token z-scores; "
                                           "draw the paper's Figure 2 from your run.",
                    formatter_class=HelpFormatter)
    parser.add_argument("folder", type=path, help="your exercises' folder (ex02_unbroadcast.py, …)")
    parser.add_argument("--out", type=path, default=Path("figure2_yours.png"),
                        help="the figure drawn from your run (PNG); default: figure2_yours.png")
    return add_version(parser)


def main(argv=None):
    args = parser().parse_args(argv)

    def work():
        if args.out.suffix.lower() != ".png":
            raise LearnerError(f"--out must be a .png file, not {args.out.name}")
        out, folder = args.out.absolute(), args.folder.absolute()  # where they are now: an exercise may chdir
        check_outputs({"--out": out}, _inputs(folder))
        result = compare(folder)
        print(result.run.report())
        print(result.table())
        save_figure(out, result.yours, EXAMPLE_IMAGE.name + " (your ops)")
        print(f"wrote {printable(args.out)}")
        return 0 if result.agrees else 1

    return run(work, PROG, extra_errors=(LearnerError, FigureInputError))  # a map of yours the figure cannot draw


def _inputs(folder):
    """What the run reads, which --out may not replace: the shipped example and model, the exercises."""
    inputs = {"the shipped example image": EXAMPLE_IMAGE, "the shipped example's question": EXAMPLE_QUESTION,
              "the shipped model": SHIPPED_MODEL, "the shipped model's manifest": manifest_path(SHIPPED_MODEL)}
    return inputs | {f"the exercise {op.exercise}.py": folder / f"{op.exercise}.py" for op in OPS}


if __name__ == "__main__":
    sys.exit(main())
