"""``hadamard-exercises``: the learner works on a copy of the stubs, which the package carries, and grades it;
the repository's stubs stay blank whatever the learner writes."""
import errno
import importlib.util
import os

import pytest

import hadamard_min
from hadamard_min.cli import exercises

pytest.importorskip("hypothesis", reason="grading needs Hypothesis")


def main(argv, capsys):
    """The command's status and what it printed."""
    code = exercises.main(argv)
    return code, capsys.readouterr()


def answer(copy, name):
    """Answer exercise ``name`` in ``copy`` as a learner might: the reference solution's definitions appended
    (a later definition replaces the stub's; a class's methods are set on the stub's class)."""
    solution = (exercises.SOURCE / "solutions" / f"{name}.py").read_text(encoding="utf-8")
    with open(copy / f"{name}.py", "a", encoding="utf-8") as stub:
        stub.write("\n\n" + solution)


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as stopped:
        exercises.main(["--version"])
    printed = capsys.readouterr().out.strip()
    assert stopped.value.code == 0 and printed == f"hadamard-exercises {hadamard_min.__version__}"
    for argv in (["--help"], ["start", "--help"], ["grade", "--help"]):
        with pytest.raises(SystemExit) as stopped:
            exercises.main(argv)
        assert stopped.value.code == 0 and "(default: None)" not in capsys.readouterr().out


def test_start_copies_the_blank_stubs_and_graders_but_not_the_solutions(tmp_path, capsys):
    code, printed = main(["start", str(tmp_path / "mine")], capsys)
    assert code == 0 and "hadamard-exercises grade --dir" in printed.out
    copied = sorted(path.name for path in (tmp_path / "mine").iterdir())
    expected = sorted(path.name for path in exercises.exercise_files(exercises.SOURCE))
    assert copied == sorted([*expected, "README.md", "conftest.py", "grading.py"]) and len(expected) == 22
    for name in expected:
        assert (tmp_path / "mine" / name).read_bytes() == (exercises.SOURCE / name).read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]   # no temporary folder left


def test_start_fills_an_empty_folder_and_refuses_anything_else(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["start", str(tmp_path / "empty")], capsys)[0] == 0
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "ex01_scalar_engine.py").write_text("my answers")
    (tmp_path / "file").write_text("x")
    for target, words in (("used", "is not empty"), ("file", "is a file"), ("missing/mine", "does not exist")):
        code, printed = main(["start", str(tmp_path / target)], capsys)
        assert code == 2 and printed.err.count("\n") == 1 and words in printed.err, printed.err
    assert (tmp_path / "used" / "ex01_scalar_engine.py").read_text() == "my answers"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "used"]


def test_grade_runs_pytest_on_the_copy(tmp_path, capfd, monkeypatch):
    """An answer written in the copy is graded there; the package's stubs are not touched."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("HADAMARD_SOLUTIONS", raising=False)
    package = {path: path.read_bytes() for path in exercises.exercise_files(exercises.SOURCE)}
    copy = tmp_path / "mine"
    assert exercises.main(["start", str(copy)]) == 0
    answer(copy, "ex02_unbroadcast")
    with open(copy / "ex04_matmul.py", "a", encoding="utf-8") as stub:   # a wrong answer: da's sign
        stub.write("\n\nMatMul.backward = lambda self, dy: (-(dy @ self.saved[1].swapaxes(-1, -2)), "
                   "self.saved[0].swapaxes(-1, -2) @ dy)\n")
    monkeypatch.chdir(copy)   # --dir defaults to the current folder
    assert exercises.main(["grade", "2", "4", "--hints"]) == 1
    printed = capfd.readouterr().out
    assert "1 passed" in printed and "1 failed" in printed and "the sign is flipped" in printed, printed
    assert "hint (formula): ∂L/∂a = dy @ bᵀ" in printed, printed
    assert "grading your exercises;" in printed and "HADAMARD_SOLUTIONS" not in printed, printed  # a copy has none
    assert package == {path: path.read_bytes() for path in exercises.exercise_files(exercises.SOURCE)}


def test_grade_says_in_one_line_what_is_missing(tmp_path, capsys, monkeypatch):
    code, printed = main(["grade", "--dir", str(tmp_path)], capsys)
    assert code == 2 and "holds no exercises" in printed.err and "hadamard-exercises start" in printed.err
    main(["start", str(tmp_path / "mine")], capsys)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pytest" else real(name, *a))
    code, printed = main(["grade", "--dir", str(tmp_path / "mine")], capsys)
    assert code == 2 and printed.err.strip() == "hadamard-exercises: error: grading needs pytest: pip install " \
                                               "pytest hypothesis"


@pytest.mark.parametrize("switch, value, words", [("HADAMARD_SOLUTIONS", "1", "no folder solutions/"),
                                                   ("HADAMARD_HINTS", "yes", "must be 0 or 1")])
def test_grade_refuses_a_switch_it_cannot_follow_in_one_line(tmp_path, capfd, monkeypatch, switch, value, words):
    """A learner's copy has no solutions/ to grade; a switch is 0 or 1. One line, status 2, nothing graded."""
    monkeypatch.setenv(switch, value)
    assert exercises.main(["start", str(tmp_path / "mine")]) == 0
    capfd.readouterr()
    assert exercises.main(["grade", "2", "--dir", str(tmp_path / "mine")]) == 2
    printed = capfd.readouterr()
    assert words in printed.err and printed.err.strip().count("\n") == 0, printed.err
    assert "passed" not in printed.out and "failed" not in printed.out, printed.out


def test_the_package_finds_the_stubs_in_a_checkout():
    assert exercises.SOURCE.name == "exercises" and (exercises.SOURCE / "grading.py").is_file()
    assert os.path.isdir(exercises.SOURCE / "solutions")


def test_a_copy_asked_for_its_solutions_says_it_has_none(tmp_path, monkeypatch):
    """Also when the solutions are asked for by argument (load(name, solutions=True)), not by the switch."""
    monkeypatch.delenv("HADAMARD_SOLUTIONS", raising=False)
    assert exercises.main(["start", str(tmp_path / "mine")]) == 0
    spec = importlib.util.spec_from_file_location("copied_grading", tmp_path / "mine" / "grading.py")
    grading = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grading)
    with pytest.raises(ValueError, match="no folder solutions/"):
        grading.load("ex02_unbroadcast", solutions=True)
    assert grading.load("ex02_unbroadcast", solutions=False).__name__ == "exercise_ex02_unbroadcast"


def test_an_answer_that_ends_the_program_fails_its_own_exercise_only(tmp_path, capfd, monkeypatch):
    """sys.exit() or raise KeyboardInterrupt in an answer stopped the whole grading; now the others run."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("HADAMARD_SOLUTIONS", raising=False)
    copy = tmp_path / "mine"
    assert exercises.main(["start", str(copy)]) == 0
    with open(copy / "ex07_relu_rules.py", "a", encoding="utf-8") as stub:
        stub.write("\n\ndef relu_backward(dy, mask, rule):\n    raise KeyboardInterrupt\n")
    with open(copy / "ex08_gru_cell.py", "a", encoding="utf-8") as stub:
        stub.write("\n\nimport sys\nsys.exit(3)\n")
    capfd.readouterr()
    assert exercises.main(["grade", "6", "7", "8", "9", "--dir", str(copy)]) == 1
    printed = capfd.readouterr().out
    assert "your code raised KeyboardInterrupt()" in printed and "your code raised SystemExit(3)" in printed
    assert "4 failed" in printed and "test_exercise_09" in printed, printed


def test_a_ctrl_c_still_stops_the_grading(tmp_path):
    """The graders tell a Ctrl-C (SIGINT) from a KeyboardInterrupt that an answer raises."""
    import signal
    import subprocess
    import sys
    import time

    copy = tmp_path / "mine"
    assert exercises.main(["start", str(copy)]) == 0
    with open(copy / "ex02_unbroadcast.py", "a", encoding="utf-8") as stub:
        stub.write("\n\nimport pathlib, time\ndef unbroadcast(grad, shape):\n"
                   "    pathlib.Path('inside').touch()\n    time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-m", "pytest", str(copy / "test_ex02_unbroadcast.py"), "-p",
                              "no:cacheprovider"], cwd=copy, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    waited = time.monotonic()
    while not (copy / "inside").exists() and time.monotonic() - waited < 120:  # collected, inside the answer
        time.sleep(0.05)    # (a fixed wait ended before pytest's imports on a loaded machine)
    if not (copy / "inside").exists():
        child.kill()
        pytest.fail(f"the answer never ran: {child.communicate()[0]}")
    started = time.monotonic()
    child.send_signal(signal.SIGINT)
    out = child.communicate(timeout=60)[0]
    assert time.monotonic() - started < 30 and "KeyboardInterrupt" in out and child.returncode == 2, out
    assert "your code raised" not in out


def test_start_fills_an_empty_folder_in_place(tmp_path, capsys, monkeypatch):
    """The folder itself is filled (the shell inside it keeps it; a link stays a link; its mode is kept)."""
    for name in ("cwd", "target", "locked"):
        (tmp_path / name).mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "locked").chmod(0o555)
    inodes = {name: (tmp_path / name).stat().st_ino for name in ("cwd", "target", "locked")}
    monkeypatch.chdir(tmp_path / "cwd")
    assert main(["start", "."], capsys)[0] == 0
    assert main(["start", str(tmp_path / "link")], capsys)[0] == 0 and (tmp_path / "link").is_symlink()
    code, printed = main(["start", str(tmp_path / "locked")], capsys)   # refused, unless run by root
    assert code == 0 or (code == 2 and printed.err.count("\n") == 1 and f"{tmp_path / 'locked'}:" in printed.err)
    assert {name: (tmp_path / name).stat().st_ino for name in inodes} == inodes
    assert (tmp_path / "locked").stat().st_mode & 0o777 == 0o555
    for name in ("cwd", "target"):
        assert len(list((tmp_path / name).iterdir())) == 2 * exercises.COUNT + len(exercises.SHARED)


def test_start_that_cannot_write_names_the_folder_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def read_only(source, destination):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(destination))

    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(exercises.shutil, "copyfile", read_only)
    for name in ("empty", "new"):
        code, printed = main(["start", str(tmp_path / name)], capsys)
        assert code == 2 and printed.err.count("\n") == 1 and ".tmp" not in printed.err, printed.err
        assert f"into {tmp_path / name}: Read-only file system" in printed.err, printed.err
    assert [path.name for path in tmp_path.iterdir()] == ["empty"] and not any((tmp_path / "empty").iterdir())


def test_the_copy_does_not_hold_the_hints_on_the_formulas(tmp_path):
    """The graders name their hints by a key; the texts stay in the package, read only when asked for."""
    spec = importlib.util.spec_from_file_location("shipped_hints", exercises.SOURCE / "hints.py")
    hints = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hints)
    assert exercises.main(["start", str(tmp_path / "mine")]) == 0
    copied = {path.name: path.read_text(encoding="utf-8") for path in (tmp_path / "mine").iterdir()}
    for key, text in hints.HINTS.items():
        pieces = [piece for piece in text.split(": ") if len(piece) > 12]   # the formula alone, too
        assert not [name for name, content in copied.items() for piece in pieces if piece in content], key


def test_the_engines_suggestion_on_a_wrong_shape_comes_with_the_hints_only(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("HADAMARD_HINTS", raising=False)
    copy = tmp_path / "mine"
    assert exercises.main(["start", str(copy)]) == 0
    with open(copy / "ex02_unbroadcast.py", "a", encoding="utf-8") as stub:   # the broadcast shape, not summed
        stub.write("\n\ndef unbroadcast(grad, shape):\n    return grad\n")
    capfd.readouterr()
    printed = []
    for hints in ([], ["--hints"]):
        assert exercises.main(["grade", "2", "--dir", str(copy), *hints]) == 1
        printed.append(capfd.readouterr().out)
    assert "has shape (3, 4), the input has shape (3, 1)" in printed[0], printed[0]
    assert "broadcast axes" not in printed[0] and "(sum over broadcast axes?)" in printed[1], printed[1]
