"""What every lesson does first, in one place: imported before NumPy by each lesson (``import _lesson``).

- One BLAS thread (``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` = 1 unless set): a
  lesson's runtime does not depend on how busy the machine is (two threads that wait on each other at every
  matrix product on a loaded machine made lesson 07 eight times slower).
- The reference ops, the code the lessons read (``HADAMARD_FAST=0`` unless set; lesson 09 switches the
  fast path on and off itself to compare them).
- ``HADAMARD_LEARNER=DIR``: the ops you wrote in the exercises in place of the package's (``hm.learner``).
- ``predict(question, answer)``: the lesson asks, you think, then it answers.
- ``needs_easy_vqa()``: a lesson that reads the easy-VQA data set ends at once, in one line, without it.
- ``parser(doc)``, ``output_folder`` and ``count``: the lesson's command line, whose mistakes are one line and
  exit status 2.
"""
import argparse
import atexit
import contextlib
import os
import sys
from pathlib import Path


def _default(variable, value):
    """``variable`` is ``value`` unless set; blank is unset, as the package reads it (setdefault kept a blank
    ``HADAMARD_FAST``, which the package reads as 1: the lesson ran the fast path, not its default)."""
    if not os.environ.get(variable, "").strip():
        os.environ[variable] = value


for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _default(_variable, "1")
_default("HADAMARD_FAST", "0")

_learner_block = contextlib.ExitStack()


def start(doc):
    """Print the lesson's title (its docstring's first line) and which ops it runs; under ``HADAMARD_LEARNER``
    enter learner mode (its report is printed at the end)."""
    from hadamard_min.fast.switch import FastSwitchError, enabled
    from hadamard_min.learner.ops import LearnerError, environment_folder, learner

    try:
        enabled()  # a bad HADAMARD_FAST is one line, as in the package's commands (it was a traceback)
    except FastSwitchError as error:
        print(f"{Path(sys.argv[0]).name}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(doc.strip().splitlines()[0])
    folder = environment_folder()
    if folder is not None:
        try:
            run = _learner_block.enter_context(learner(folder))
        except LearnerError as error:  # no such folder, an exercise that cannot be imported: one line
            print(f"HADAMARD_LEARNER: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        atexit.register(lambda: (print("\n" + run.report()), _learner_block.close()))
        print(f"ops: yours from {folder} where written, else the reference ops (HADAMARD_LEARNER)")
    elif enabled():
        print("ops: the fast path (HADAMARD_FAST=1), not the reference ops the lesson reads")
    else:
        print("ops: the reference ops of hadamard_min/ops/, the code the lesson reads (HADAMARD_FAST=0; "
              f"BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']})")
    print()


def parser(doc):
    """The lesson's command line, described by its docstring's first line: an unknown option or a bad value is
    one line and exit status 2 before the lesson starts, as with the package's commands."""
    from hadamard_min.cli.errors import Parser

    return Parser(description=doc.strip().splitlines()[0])


def output_folder(text):
    """``--out DIR``'s type: a folder, created by the lesson only inside an existing one (as the package's
    commands do: a typo does not grow a tree of folders); an existing file is refused, never replaced."""
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file: choose a folder name")
    if not folder.resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(f"output folder does not exist: {folder.resolve().parent} "
                                         "(create it first)")
    return folder


def count(text):
    """A whole number of at least 1 (``--pairs N``): 0 or a negative number is refused, not read as the default
    or passed on to fail deep inside the lesson."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return number


def needs_easy_vqa():
    """End the lesson before any work, with one line on stderr and status 2, where easy-VQA is not installed."""
    try:
        import easy_vqa  # noqa: F401
    except ImportError:
        print("this lesson reads the easy-VQA data set, which is not installed: pip install -e '.[data]' "
              "(or pip install easy-vqa)", file=sys.stderr)
        raise SystemExit(2) from None


def predict(question):
    """Ask the learner to predict; wait for Enter on a terminal, else leave a visible gap before the answer."""
    print(f"  ▶ predict: {question}")
    if sys.stdin is not None and sys.stdin.isatty():
        input("    (think it over, then press Enter to run it) ")
    else:
        print("    (not a terminal, so no pause: think before reading on)\n")
