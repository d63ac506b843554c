"""``hadamard-exercises``: the eleven exercises in a folder of the learner's own, and their grading.

    hadamard-exercises start DIR                      copy the blank stubs and their graders into DIR
    hadamard-exercises grade [N ...] [--dir DIR] [--hints]  grade them (all, or exercises N …) with pytest

The learner writes in the copy, so the package's stubs stay blank and the project's own tests do not
depend on how far a learner got. The stubs travel with the package (pyproject.toml maps the checkout's
lessons/exercises/ to ``hadamard_min.exercises``); the reference solutions and the hints on the formulas
(hints.py, read from the package when asked for) are not copied.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from hadamard_min.cli.checks import integer, number, path
from hadamard_min.cli.errors import Parser, UsageError, run
from hadamard_min.cli.parsing import HelpFormatter, add_version

PROG = "hadamard-exercises"
# The stubs are the folder lessons/exercises/ in a checkout or an editable install, hadamard_min/exercises/
# in a wheel (the same files).
_PACKAGE = Path(__file__).resolve().parent.parent
SOURCE = _PACKAGE / "exercises" if (_PACKAGE / "exercises").is_dir() else _PACKAGE.parent / "lessons" / "exercises"
SHARED = ("grading.py", "conftest.py", "README.md")   # what every exercise's grader needs besides its files
COUNT = 11
PYTEST_USAGE_ERROR = 4
TIME_LIMIT_S = 60   # per exercise: the reference solutions take a few seconds each; an endless loop is stopped


def exercise_files(folder):
    """The stubs and graders in ``folder``: exNN_*.py and test_exNN_*.py, sorted."""
    return sorted([*folder.glob("ex[0-9][0-9]_*.py"), *folder.glob("test_ex[0-9][0-9]_*.py")])


def parser():
    parser = Parser(prog=PROG, formatter_class=HelpFormatter,
                    description="The exercises (a scalar engine, the backward of broadcasting, tanh, softmax, "
                                "matmul, col2im, max-pool, ReLU's rules, a GRU step, MLB, eq. 2-3 and eq. 9-11) "
                                "in a folder of your own, and their grading.")
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{start,grade}",
                                     parser_class=Parser)
    start = commands.add_parser("start", help="copy the blank stubs and their graders into DIR",
                                description="Copy the blank stubs and their graders into DIR, a new folder or an "
                                            "empty one (DIR's parent must exist). Write your answers there.")
    start.add_argument("dir", metavar="DIR", type=path, help="the folder to create")
    grade = commands.add_parser("grade", help="grade the exercises in DIR (needs pytest and hypothesis)",
                                formatter_class=HelpFormatter,
                                description="Grade the exercises in DIR with pytest: a blank stub fails with "
                                            "what to write, a wrong answer with the element, the value expected "
                                            "and the value got. Each exercise is graded in a process of its "
                                            f"own (where the system can fork), stopped after --time-limit "
                                            f"seconds ({TIME_LIMIT_S} by default): an endless loop, or code "
                                            "that ends the process, fails its own exercise and the others are "
                                            "still graded.")
    grade.add_argument("numbers", metavar="N", nargs="*", type=integer(1, COUNT),
                       help=f"the exercises to grade, 1 to {COUNT} (default: all)")
    grade.add_argument("--dir", type=path, default=Path("."), help="the folder made by 'start'")
    grade.add_argument("--hints", action="store_true", help="a failure also gives the hint on the formula")
    grade.add_argument("--time-limit", type=number(0, 24 * 3600), default=TIME_LIMIT_S, metavar="S",
                       help="the seconds one exercise's grading may take")
    return parser


def start(folder):
    """Copy the stubs and graders into ``folder``, a new folder or an empty one, which is filled in place: the
    files are copied into a temporary folder inside it, then moved out; on a failure nothing is left."""
    if folder.is_symlink() and not folder.exists():
        raise UsageError(f"{folder} is a link to nothing, not a folder")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise UsageError(f"{folder} is not empty: nothing copied (give a new or empty folder)")
    if not folder.is_dir() and not folder.parent.is_dir():
        raise UsageError(f"folder {folder.parent} does not exist (create it first)")
    files = exercise_files(SOURCE)
    if len(files) != 2 * COUNT:
        raise UsageError(f"the package's exercises are incomplete in {SOURCE} (reinstall hadamard-min)")
    created = not folder.is_dir()
    try:
        if created:
            folder.mkdir()
        _fill(folder, [*files, *(SOURCE / name for name in SHARED)], created)
    except OSError as error:
        raise UsageError(f"cannot copy the exercises into {folder}: {error.strerror or error}") from None
    print(f"copied {COUNT} exercises and their graders into {folder}\n"
          f"write in its exNN_*.py files, then:  {PROG} grade --dir {folder}   (or grade N for one; --hints)")
    return 0


def _fill(folder, files, created):
    """Copy ``files`` into the empty ``folder`` all or none (``created``: remove the folder on a failure)."""
    temporary = folder / f".{PROG}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    moved = []
    try:
        temporary.mkdir()
        for path in files:
            shutil.copyfile(path, temporary / path.name)
        for path in files:
            os.rename(temporary / path.name, folder / path.name)
            moved.append(folder / path.name)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def grade(folder, numbers, hints, time_limit):
    """Run pytest on the graders in ``folder`` (exercises ``numbers`` only, if any); pytest's status."""
    missing = [name for name in ("pytest", "hypothesis") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"grading needs {' and '.join(missing)}: pip install pytest hypothesis")
    if not all((folder / name).is_file() for name in SHARED[:2]) or not exercise_files(folder):
        raise UsageError(f"{folder} holds no exercises (make a copy with: {PROG} start DIR)")
    tests = []
    for exercise in sorted(set(numbers)) or range(1, COUNT + 1):
        stub, grader = f"ex{exercise:02d}_*.py", f"test_ex{exercise:02d}_*.py"
        for pattern in (stub, grader):
            if not any(folder.glob(pattern)):
                shipped = " or ".join(path.name for path in SOURCE.glob(pattern)) or pattern
                raise UsageError(f"{folder} lacks {shipped} (exercise {exercise}): copy it from a new folder made "
                                 f"by '{PROG} start NEWDIR'")
        tests += sorted(folder.glob(grader))
    command = [sys.executable, "-m", "pytest", *map(str, tests), "--rootdir", str(folder), "-p", "no:cacheprovider",
               "--time-limit", str(time_limit), *(["--hints"] if hints else [])]
    one_thread = {name: os.environ.get(name, "1") for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    status = subprocess.run(command, check=False, env={**os.environ, **one_thread}).returncode  # fork-safe BLAS
    return 2 if status == PYTEST_USAGE_ERROR else status   # its one line said why (e.g. a bad HADAMARD_HINTS)


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "start":
        return run(lambda: start(args.dir), PROG)
    return run(lambda: grade(args.dir, args.numbers, args.hints, args.time_limit), PROG)


if __name__ == "__main__":
    sys.exit(main())
