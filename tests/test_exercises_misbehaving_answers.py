"""Answers that misbehave are graded like any wrong answer: one that never returns, ends the process, cannot be
imported or forgets its return fails its own exercise with a line that says so, and the others are still
graded; a copy missing a file says which; grading writes nothing where it runs."""
import os

import pytest

from hadamard_min.cli import exercises

pytest.importorskip("hypothesis", reason="grading needs Hypothesis")

BLANK = '    raise NotImplementedError("exercise 2'


@pytest.fixture
def copy(tmp_path, monkeypatch, capfd):
    """A fresh copy of the exercises, graded from an empty current folder."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("HADAMARD_SOLUTIONS", raising=False)
    monkeypatch.delenv("HADAMARD_HINTS", raising=False)
    assert exercises.main(["start", str(tmp_path / "mine")]) == 0
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    capfd.readouterr()
    return tmp_path / "mine"


def unbroadcast_body(copy, body):
    """Exercise 2's blank replaced by ``body``, as a learner types it."""
    path = copy / "ex02_unbroadcast.py"
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BLANK), text.index("\n\n\nclass Add")
    path.write_text(text[:start] + body + text[end:], encoding="utf-8")


def grade(copy, capfd, *argv):
    code = exercises.main(["grade", "--dir", str(copy), *argv])
    return code, capfd.readouterr()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a child per exercise needs fork")
def test_an_endless_loop_is_stopped_at_the_time_limit_and_the_others_are_graded(copy, capfd):
    unbroadcast_body(copy, "    while True:\n        pass")
    code, printed = grade(copy, capfd, "1", "2", "3", "--time-limit", "3")
    assert code == 1 and "your code took longer than 3 s, the time limit" in printed.out, printed.out
    assert "exercise 3: write Tanh.backward" in printed.out and "3 failed" in printed.out, printed.out


def test_the_time_limit_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        exercises.main(["grade", "--help"])
    assert f"(default: {exercises.TIME_LIMIT_S})" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a child per exercise needs fork")
def test_an_answer_that_ends_the_process_fails_its_own_exercise(copy, capfd):
    unbroadcast_body(copy, "    import os\n    os._exit(0)")
    code, printed = grade(copy, capfd, "1", "2", "3")
    assert code == 1 and "your code ended the process (exit status 0: os._exit()?)" in printed.out, printed.out
    assert "exercise 3: write Tanh.backward" in printed.out and "3 failed" in printed.out, printed.out


@pytest.mark.parametrize("body, error, line", [("    return grad +", "SyntaxError", 21),
                                                ("  return grad", "IndentationError", 21),
                                                ("    return grad\nimport missingmod", "ModuleNotFoundError", 22)])
def test_an_answer_that_cannot_be_imported_is_named_with_its_line(copy, capfd, body, error, line):
    unbroadcast_body(copy, body)
    code, printed = grade(copy, capfd, "2")
    assert code == 1 and f"your code raised {error}" in printed.out, printed.out
    assert f"at ex02_unbroadcast.py:{line}:" in printed.out, printed.out
    assert "Traceback" not in printed.out and "grading.py" not in printed.out, printed.out


def test_a_missing_return_is_named_as_such(copy, capfd):
    unbroadcast_body(copy, "    return None")
    code, printed = grade(copy, capfd, "2")
    assert code == 1 and "got None (a missing return?)" in printed.out, printed.out
    assert "is 0 here" not in printed.out, printed.out


@pytest.mark.parametrize("removed, argv", [("test_ex05_conv_col2im.py", []), ("ex05_conv_col2im.py", ["5"])])
def test_a_missing_file_is_named_in_one_line(copy, capfd, removed, argv):
    (copy / removed).unlink()
    code, printed = grade(copy, capfd, *argv)
    assert code == 2 and printed.err.count("\n") == 1 and f"lacks {removed} (exercise 5)" in printed.err, printed.err
    assert "hadamard-exercises start" in printed.err and printed.out == "", printed.out


def test_grading_writes_nothing_where_it_runs(copy, capfd, monkeypatch):
    """Hypothesis wrote its cache of the constants in the code it ran into .hypothesis/ of the current folder."""
    solution = (exercises.SOURCE / "solutions" / "ex02_unbroadcast.py").read_text(encoding="utf-8")
    with open(copy / "ex02_unbroadcast.py", "a", encoding="utf-8") as stub:   # cases are drawn only past the first
        stub.write("\n\n" + solution)
    monkeypatch.chdir(copy.parent)
    assert grade(copy, capfd, "2")[0] == 0
    assert sorted(path.name for path in copy.parent.iterdir()) == ["here", "mine"]


def test_an_error_that_cannot_be_rebuilt_here_is_reported_with_its_traceback(copy, capfd):
    """An error raised outside the graders' checks goes from the child as it is, where pickle can rebuild it;
    a class whose arguments differ from its message's (here one of a helper module of the learner's) as text."""
    (copy / "helpers.py").write_text("class Oops(Exception):\n    def __init__(self, what, code):\n"
                                     "        super().__init__(f'{what} ({code})')\n", encoding="utf-8")
    unbroadcast_body(copy, "    import helpers\n    raise helpers.Oops('no answer yet', 7)")
    grader = copy / "test_ex02_unbroadcast.py"
    grader.write_text(grader.read_text(encoding="utf-8").replace(
        "def grade(ex):\n", "def grade(ex):\n    ex.unbroadcast(numpy.ones(2), (2,))\n"), encoding="utf-8")
    code, printed = grade(copy, capfd, "2", "3")
    assert code == 1 and "helpers.Oops: no answer yet (7)" in printed.out, printed.out
    assert 'in unbroadcast\n    raise helpers.Oops' in printed.out and "2 failed" in printed.out, printed.out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a child per exercise needs fork")
def test_an_error_whose_class_only_the_child_has_comes_back_as_its_traceback(monkeypatch):
    """The grading process rebuilds the child's error from pickle; a class it cannot import (one the child made
    after the fork) comes back as a RuntimeError holding the child's traceback, not as a crash in conftest."""
    import importlib.util
    import sys
    import types
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "lessons" / "exercises"
    monkeypatch.syspath_prepend(str(folder))
    spec = importlib.util.spec_from_file_location("exercises_conftest", folder / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)

    def raises_an_error_of_its_own():
        module = types.ModuleType("made_after_the_fork")
        exec("class Unlike(Exception):\n    pass", module.__dict__)
        sys.modules["made_after_the_fork"] = module
        raise module.Unlike("only the child knows this class")

    with pytest.raises(RuntimeError, match="only the child knows this class") as error:
        conftest._in_child(raises_an_error_of_its_own, 30)
    assert "made_after_the_fork" not in sys.modules and "Traceback" in error.value.child_traceback
