"""Every numbered lesson runs top to bottom, exits with 0, prints something, and writes nothing into the
folder it is run from (a lesson that writes files takes --out, here a temporary folder, and fills it).

Lessons are found by name (``lessons/NN_*.py``), so a new one is picked up without editing this file. Slow
lessons run in their quick mode; together they take about a minute of CPU time on 2 cores.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hadamard_min.io.weights import WeightsError
from hadamard_min.models.efficientnet import lite0_weights_file

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 600  # a guard against a hang, not a speed test: a busy machine may be several times slower

# Per lesson file name: extra arguments for a quick mode under test, and whether it writes files (--out).
# Lesson 4 draws its figures with the optional ImageNet weights only: without them it must say so (and
# tests/test_lesson_04.py checks its figures where they are installed).
LESSON_OPTIONS = {
    "04_resnet152_guided_backprop.py": {"out": True, "figures_need": "imagenet"},
    "06_explanation_step_by_step.py": {"out": True},
    "07_train_and_watch.py": {"args": ["--quick"], "out": True},
    "08_reading_the_report.py": {"args": ["--quick"]},
    "09_making_it_fast.py": {"args": ["--quick"]},
    "10_does_it_follow_the_question.py": {"args": ["--quick"]},
}


def test_lessons_are_found():
    assert LESSONS, f"no lessons found in {ROOT / 'lessons'}"
    uses_the_package = [p.name for p in LESSONS if "hadamard_min" in p.read_text(encoding="utf-8")]
    assert all("import _lesson" in (ROOT / "lessons" / name).read_text(encoding="utf-8") for name in uses_the_package)
    assert set(LESSON_OPTIONS) <= {p.name for p in LESSONS}, "LESSON_OPTIONS names a lesson that does not exist"


def test_a_lessons_title_is_a_whole_line():
    """The docstring's first line is the title the lesson prints and its --help shows: a phrase cut off there
    ("… on a trained network and real") reads as a mistake."""
    titles = {p.name: p.read_text(encoding="utf-8").split('"""')[1].strip().splitlines()[0] for p in LESSONS}
    assert all(title.endswith((".", "?")) for title in titles.values()), titles
    numbers = {name: title.split(":")[0] for name, title in titles.items() if name[:2].isdigit()}
    assert all(number == f"Lesson {int(name[:2])}" for name, number in numbers.items()), numbers  # not "Lesson 07"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_runs(lesson, tmp_path):
    options = LESSON_OPTIONS.get(lesson.name, {})
    here, out = tmp_path / "run-from-here", tmp_path / "out"
    here.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, str(lesson), *options.get("args", []), *(["--out", str(out)] if options.get("out")
                                                                        else [])]
    env.pop("HADAMARD_FAST", None)   # the lesson's own default: the reference ops
    env.pop("HADAMARD_LEARNER", None)
    result = subprocess.run(command, cwd=here, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                            stdin=subprocess.DEVNULL)   # no terminal: the ▶ predict prompts must not wait
    assert result.returncode == 0, f"{lesson.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert result.stdout.strip(), f"{lesson.name} printed nothing"
    if "import _lesson" in lesson.read_text(encoding="utf-8"):
        assert "ops: the reference ops of hadamard_min/ops/" in result.stdout and "BLAS threads: 1" in result.stdout, \
            f"{lesson.name} did not say it runs the reference ops on one thread:\n{result.stdout[:500]}"
    assert not any(here.iterdir()), f"{lesson.name} wrote into the folder it was run from: {list(here.iterdir())}"
    if options.get("figures_need") == "imagenet" and not _imagenet_weights_installed():
        assert "Parts 3 and 4 need the trained network" in result.stdout, f"{lesson.name} did not say why it " \
            f"drew no figure:\n{result.stdout[-2000:]}"
        assert not out.exists() or not any(out.glob("*.png"))
    elif options.get("out"):
        assert any(out.glob("*.png")), f"{lesson.name} wrote no figure into --out"


def _imagenet_weights_installed():
    try:
        lite0_weights_file()
    except WeightsError:
        return False
    return True


def _reads_easy_vqa(lesson):
    text = lesson.read_text(encoding="utf-8")
    return "easy_vqa" in text or "load_easy_vqa" in text


def test_a_lesson_that_reads_easy_vqa_checks_for_it_first():
    """The install the lessons ask for (``pip install -e .``) has no easy-VQA (the ``data`` extra)."""
    readers = [p.name for p in LESSONS if _reads_easy_vqa(p)]
    assert readers, "no lesson reads easy-VQA: this test checks nothing"
    unchecked = [name for name in readers
                 if "_lesson.needs_easy_vqa()" not in (ROOT / "lessons" / name).read_text(encoding="utf-8")]
    assert not unchecked, f"lessons that read easy-VQA without _lesson.needs_easy_vqa() first: {unchecked}"


@pytest.mark.parametrize("lesson", [p for p in LESSONS if _reads_easy_vqa(p)],
                         ids=[p.name for p in LESSONS if _reads_easy_vqa(p)])
def test_without_easy_vqa_a_lesson_that_needs_it_says_so_in_one_line(lesson, tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "easy_vqa.py").write_text("raise ImportError('easy-VQA hidden by the test')\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(hidden), str(ROOT),
                                                                    os.environ.get("PYTHONPATH")) if p)}
    options = LESSON_OPTIONS.get(lesson.name, {})
    command = [sys.executable, str(lesson), *options.get("args", []),
               *(["--out", str(tmp_path / "out")] if options.get("out") else [])]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.count("\n") == 1 and "pip install -e '.[data]'" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def run_lesson(lesson, args, cwd):
    """The lesson as a command, the package importable, run from ``cwd`` without a terminal."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, str(lesson), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


def test_lesson_06_run_from_a_copy_reads_the_example_from_the_package(tmp_path):
    """It built the example's path from its own file: a copy of lessons/ elsewhere looked for hadamard_min/assets
    next to the copy."""
    copy = tmp_path / "my_lessons"
    shutil.copytree(ROOT / "lessons", copy, ignore=shutil.ignore_patterns("output", "__pycache__"))
    result = run_lesson(copy / "06_explanation_step_by_step.py", ["--out", str(tmp_path / "out")], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "06_figure2.png").is_file()


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_a_lesson_refuses_an_unknown_option_before_it_starts(lesson, tmp_path):
    """Lessons without options ran whole and exited 0 on --bogus."""
    result = run_lesson(lesson, ["--bogus"], tmp_path)
    assert result.returncode == 2 and not result.stdout, result.stdout[-2000:]
    assert "error: unrecognized arguments: --bogus" in result.stderr.splitlines()[-1], result.stderr


@pytest.mark.parametrize("lesson", [p for p in LESSONS if LESSON_OPTIONS.get(p.name, {}).get("out")],
                         ids=[p.name for p in LESSONS if LESSON_OPTIONS.get(p.name, {}).get("out")])
def test_a_lesson_refuses_an_out_that_is_a_file_or_lies_in_a_missing_folder(lesson, tmp_path):
    """A file gave a FileExistsError traceback; a missing folder was created with all its missing parents."""
    mine = tmp_path / "notes.txt"
    mine.write_text("mine", encoding="utf-8")
    for out, message in ((mine, f"{mine} is a file: choose a folder name"),
                         (tmp_path / "typo" / "deep" / "out", f"output folder does not exist: {tmp_path / 'typo'}")):
        result = run_lesson(lesson, ["--out", str(out)], tmp_path)
        assert result.returncode == 2 and not result.stdout, result.stderr[-2000:]
        assert result.stderr.count("\n") == 1 and f"argument --out: {message}" in result.stderr, result.stderr
    assert mine.read_text(encoding="utf-8") == "mine" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("lesson, args, message", [
    ("10_does_it_follow_the_question.py", ["--pairs", "0"], "argument --pairs: must be a whole number of at least 1"),
    ("10_does_it_follow_the_question.py", ["--pairs", "-3"], "argument --pairs: must be a whole number of at least 1"),
    ("08_reading_the_report.py", ["--quick", "--weights", "missing.npz"], "--weights: model file not found")])
def test_a_lesson_refuses_a_bad_value_in_one_line(lesson, args, message, tmp_path):
    """--pairs 0 ran as the default 100 and --pairs -3 failed deep inside; a missing --weights was a traceback."""
    if lesson.startswith("08"):
        pytest.importorskip("easy_vqa")  # without it the lesson ends before it reads --weights
    result = run_lesson(ROOT / "lessons" / lesson, args, tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


@pytest.mark.parametrize("value", ["", " "])
def test_a_blank_hadamard_fast_is_the_lessons_default_the_reference_ops(value, tmp_path):
    """A blank HADAMARD_FAST (or BLAS thread count) means the default, as the README promises: the lesson kept it
    (os.environ.setdefault), the package read it as 1, and the lesson ran the fast path and said HADAMARD_FAST=1."""
    env = {**os.environ, "HADAMARD_FAST": value, "OPENBLAS_NUM_THREADS": value,
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    result = subprocess.run([sys.executable, str(ROOT / "lessons" / "02_engine_and_gradcheck.py")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the reference ops of hadamard_min/ops/" in result.stdout.splitlines()[1], result.stdout[:2000]
    assert "BLAS threads: 1)" in result.stdout.splitlines()[1], result.stdout[:2000]


def test_a_bad_hadamard_fast_is_one_line_in_a_lesson(tmp_path):
    """HADAMARD_FAST=2 was a FastSwitchError traceback; the package's commands refuse it in one line."""
    env = {**os.environ, "HADAMARD_FAST": "2",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    result = subprocess.run([sys.executable, str(ROOT / "lessons" / "02_engine_and_gradcheck.py")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and not result.stdout, result.stdout[-2000:]
    assert result.stderr == ("02_engine_and_gradcheck.py: error: HADAMARD_FAST must be 0 (reference ops only) "
                             "or 1 (fast path), not '2'\n"), result.stderr
