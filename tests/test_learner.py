"""Learner mode: with every reference solution the shipped model's explanation is the package's, every op
listed as the learner's; with blank stubs every op falls back to the package's; the package's ops are back
after the block.

The folder of solutions is built as a learner's would look: each stub file, with its blanks filled from
``lessons/exercises/solutions/`` by the graders' own ``grading.fill`` at import.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from hadamard_min.io.model_files import load_model
from hadamard_min.learner.capstone import compare
from hadamard_min.learner.ops import OPS, LearnerError, learner
from hadamard_min.models.mlb import MLB
from hadamard_min.ops import conv, elementwise
from hadamard_min.ops.relu import ReLU

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "lessons" / "exercises"
NAMES = sorted({op.exercise for op in OPS})
FILL = """

# ---- the blanks above filled from the reference solution, as the graders do (HADAMARD_SOLUTIONS=1)
import sys as _sys
_sys.path.insert(0, {exercises!r})
import grading as _grading
_grading.fill(_sys.modules[__name__], _grading._import(_grading.HERE / "solutions" / "{name}.py", "solution_{name}"))
"""


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("solved")
    for name in NAMES:
        stub = (EXERCISES / f"{name}.py").read_text(encoding="utf-8")
        (folder / f"{name}.py").write_text(stub + FILL.format(exercises=str(EXERCISES), name=name), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blank")
    for name in NAMES:
        shutil.copy(EXERCISES / f"{name}.py", folder)
    return folder


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_every_reference_solution_explains_as_the_package(solved, model):
    result = compare(solved, model=model)
    assert [u.state for u in result.run.usage] == ["yours"] * len(OPS), result.run.report()
    assert all(u.calls > 0 for u in result.run.usage), result.run.report()
    assert result.same_answers, result.table()
    assert result.grad_v_difference <= 1e-5, result.table()
    assert numpy.abs(result.package.grad_v).max() > 0 and result.yours.grad_v.dtype == numpy.float32
    assert result.z_difference <= 1e-4, result.table()


def test_in_float64_the_solutions_agree_with_the_package_to_rounding(solved):
    result = compare(solved, model=load_model().astype(numpy.float64))
    assert result.yours.grad_v.dtype == numpy.float64 and result.same_answers
    assert result.grad_v_difference <= 1e-12, result.table()
    assert result.z_difference <= 1e-12, result.table()


def test_blank_stubs_fall_back_to_the_package(blank, model):
    result = compare(blank, model=model)
    assert [u.state for u in result.run.usage] == ["blank"] * len(OPS), result.run.report()
    assert all(u.op.title in result.run.report() for u in result.run.usage)
    assert result.same_answers
    numpy.testing.assert_array_equal(result.yours.grad_v, result.package.grad_v)   # the very same code ran


def test_the_package_ops_are_back_after_the_block(solved):
    before = (ReLU.backward, elementwise.unbroadcast, vars(conv.Conv2d)["col2im"], MLB.forward)
    with learner(solved) as run:
        assert ReLU.backward is not before[0] and elementwise.unbroadcast is not before[1]
    assert (ReLU.backward, elementwise.unbroadcast, vars(conv.Conv2d)["col2im"], MLB.forward) == before
    assert run.learners_ops() == [op.title for op in OPS]


def test_a_missing_exercise_file_and_a_broken_one_are_named(tmp_path):
    with learner(tmp_path) as run:
        pass
    assert {u.state for u in run.usage} == {"missing"}
    (tmp_path / "ex02_unbroadcast.py").write_text("def unbroadcast(grad, shape)\n")
    with pytest.raises(LearnerError, match=r"ex02_unbroadcast\.py cannot be imported: SyntaxError"):
        with learner(tmp_path):
            pass


def test_the_capstone_command_reports_and_draws(solved, tmp_path):
    figure = tmp_path / "mine.png"
    result = subprocess.run([sys.executable, "-m", "hadamard_min.learner", str(solved), "--out", str(figure)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "yours      ReLU rules" in result.stdout and "same" in result.stdout
    assert figure.stat().st_size > 0
    bad = subprocess.run([sys.executable, "-m", "hadamard_min.learner", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a folder" in bad.stderr


def test_a_wrong_rule_of_the_learner_shows_in_the_comparison(solved, tmp_path, model):
    folder = tmp_path / "wrong"
    shutil.copytree(solved, folder)
    with open(folder / "ex07_relu_rules.py", "a", encoding="utf-8") as stub:   # guided written as the gradient
        stub.write("\n\ndef relu_backward(dy, mask, rule):\n    return dy * mask\n")
    result = compare(folder, model=model)
    assert "ReLU rules (guided backprop, eq. 2)" in result.run.learners_ops()
    assert result.grad_v_difference > 1e-2, result.table()


def test_lesson_06_runs_on_the_learners_ops(solved, tmp_path):
    lesson = ROOT / "lessons" / "06_explanation_step_by_step.py"
    env = {**os.environ, "HADAMARD_LEARNER": str(solved), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(lesson), "--out", str(tmp_path)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"ops: yours from {solved}" in result.stdout
    assert result.stdout.count("  yours      ") == len(OPS) and "not reached" not in result.stdout


MISTAKES = {   # ex07_relu_rules.py as a learner may write it: what the capstone's one line must say
    "raises": ("def relu_backward(dy, mask, rule):\n    raise ValueError('my bug')\n",
               "the explanation failed (your ex07_relu_rules.py, line 2): ValueError: my bug"),
    "wrong shape": ("def relu_backward(dy, mask, rule):\n    return dy[..., :1]\n", "GradientShapeError"),
    "calls sys.exit": ("def relu_backward(dy, mask, rule):\n    raise SystemExit(0)\n", "called sys.exit(0)"),
    "NaN": ("def relu_backward(dy, mask, rule):\n    return dy * float('nan')\n", "are not finite real numbers"),
    "complex": ("def relu_backward(dy, mask, rule):\n    return dy * (1 + 0j)\n", "ComplexWarning"),
    "exits at import": ("import sys\nsys.exit(0)\n", "cannot be imported: SystemExit"),
}


@pytest.mark.parametrize("mistake", [*MISTAKES, "a pixel map of another shape"])
def test_a_learners_mistake_is_one_line_of_the_capstone(model, tmp_path, capsys, mistake):
    """Whatever the learner's op raises or returns, the capstone says so in one line (status 2), draws nothing."""
    from hadamard_min.learner.__main__ import main
    if mistake == "a pixel map of another shape":  # eq. 9 as a (2, 2) map: found when the figure is drawn
        name, code, words = "ex11_postprocess", ("import numpy\ndef normalise_pixel_map(grad_v):\n"
                                                 "    return numpy.zeros((2, 2))\n"), "pixel_map must be (3, S, S)"
    else:
        name, (code, words) = "ex07_relu_rules", MISTAKES[mistake]
    (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    assert main([str(tmp_path), "--out", str(tmp_path / "mine.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "mine.png").exists()


GRU_MISTAKES = {  # ex08_gru_cell.py's backward, which learner mode tries on a 1×1 step before the run
    "raises": ("raise ValueError('my bug')", "(ex08_gru_cell.py, line 5) failed on a 1×1 step: ValueError: my bug"),
    "calls sys.exit": ("raise SystemExit(0)", "failed on a 1×1 step: SystemExit: 0"),
    "another NotImplementedError": ("raise NotImplementedError('not yet')", "NotImplementedError: not yet"),
}


@pytest.mark.parametrize("mistake", GRU_MISTAKES)
def test_a_gru_step_that_fails_its_first_try_is_one_line_of_the_capstone(tmp_path, capsys, mistake):
    """The GRU cell is tried once before the run, to tell a blank stub: anything else it raised there escaped
    the capstone as a traceback (exit 1), where every other mistake of the learner's is one line (status 2)."""
    from hadamard_min.learner.__main__ import main
    code, words = GRU_MISTAKES[mistake]
    (tmp_path / "ex08_gru_cell.py").write_text("class GRUCell:\n    def __init__(self, weights):\n        pass\n\n"
                                               f"    def backward(self, dh_new): {code}\n"
                                               "    def forward(self, x, h):\n        return h\n", encoding="utf-8")
    assert main([str(tmp_path), "--out", str(tmp_path / "mine.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "mine.png").exists()


def test_an_exercise_that_changes_the_working_folder_moves_neither_out_nor_the_folder(blank, tmp_path,
                                                                                      monkeypatch):
    """Relative paths are where they were when the command started: an exercise that calls os.chdir at import
    (the first one the capstone imports) wrote the figure into its own folder, and the next exercises were
    looked for there."""
    from hadamard_min.learner.__main__ import main
    shutil.copytree(blank, tmp_path / "mine")
    (tmp_path / "elsewhere").mkdir()
    first = tmp_path / "mine" / f"{OPS[0].exercise}.py"
    first.write_text(f"import os\nos.chdir({str(tmp_path / 'elsewhere')!r})\n" + first.read_text(encoding="utf-8"),
                     encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["mine", "--out", "figure.png"]) == 0
    assert (tmp_path / "figure.png").stat().st_size > 0 and not (tmp_path / "elsewhere" / "figure.png").exists()


@pytest.mark.parametrize("folder", ["nowhere", "broken"])
def test_a_lesson_on_a_learner_folder_it_cannot_use_says_so_in_one_line(tmp_path, folder):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "ex07_relu_rules.py").write_text("def relu_backward(dy\n", encoding="utf-8")
    lesson = ROOT / "lessons" / "06_explanation_step_by_step.py"
    env = {**os.environ, "HADAMARD_LEARNER": str(tmp_path / folder), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(lesson), "--out", str(tmp_path / "out")], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("HADAMARD_LEARNER: ")


def test_a_blank_stub_the_run_does_not_reach_is_told_from_an_answer(blank, tmp_path):
    """A stub still raising its NotImplementedError is the package's op even where the run never calls it; an
    answer written in its place is the learner's (not reached)."""
    with learner(blank) as run:
        pass
    assert [u.state for u in run.usage] == ["blank"] * len(OPS) and "not reached" not in run.report(), run.report()
    assert all("still blank: exercise" in u.why for u in run.usage), run.report()
    shutil.copytree(blank, tmp_path / "mine")
    with open(tmp_path / "mine" / "ex07_relu_rules.py", "a", encoding="utf-8") as stub:
        stub.write("\n\ndef relu_backward(dy, mask, rule):\n    return dy * mask\n")
    with learner(tmp_path / "mine") as run:
        pass
    assert [u.op.name for u in run.usage if u.state == "yours"] == ["relu_backward"], run.report()
    assert "not reached in this run" in run.report()


def test_the_capstone_says_a_wrong_gradient_is_different_and_exits_1(solved, tmp_path):
    """A wrong backward leaves the answers as they were: the capstone once printed "same", ∇v off by 100 % and
    exited 0, though ∇v must agree to float32 rounding."""
    folder = tmp_path / "wrong"
    shutil.copytree(solved, folder)
    with open(folder / "ex06_maxpool.py", "a", encoding="utf-8") as stub:   # max-pool's backward, sign flipped
        stub.write("\n\n_right = MaxPool2d.backward\nMaxPool2d.backward = lambda self, dy: (-_right(self, dy)[0],)\n")
    result = subprocess.run([sys.executable, "-m", "hadamard_min.learner", str(folder), "--out",
                             str(tmp_path / "mine.png")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    grad_v_line = next(line for line in result.stdout.splitlines() if line.startswith("∇v:"))
    assert "DIFFERENT" in grad_v_line and "same (top" in result.stdout, result.stdout


@pytest.mark.parametrize("argv", [[""], ["--out", "", "."]], ids=["DIR", "--out"])
def test_the_capstone_refuses_an_empty_path(argv, tmp_path, monkeypatch, capsys):
    """pathlib reads "" as ".": `python -m hadamard_min.learner ""` (an unset $DIR) graded the folder it ran in,
    found no exercise there, printed "same" throughout, drew its figure and exited 0."""
    from hadamard_min.learner.__main__ import main
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and "expected a path, not an empty one" in err[0], err
    assert list(tmp_path.iterdir()) == []
