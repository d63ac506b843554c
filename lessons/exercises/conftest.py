"""Exercises report like a teacher: an unwritten stub or a wrong answer is its message, not a traceback.

A stub raises ``NotImplementedError("exercise N: …")``; a wrong answer raises ``grading.ExerciseFailure``
with the element, the values and what the mistake looks like (an error your code raises is named with
your line). For those two the report is the message alone. ``--hints`` adds the hint on the formula
(the same as ``HADAMARD_HINTS=1``). Code that tries to end the run (``sys.exit()``, ``raise KeyboardInterrupt``)
fails its own exercise only; a Ctrl-C you press still stops the grading.
"""
import functools
import os
import signal

import pytest
from grading import SOLUTIONS, ExerciseFailure, hints_wanted, solutions_wanted


def pytest_addoption(parser):
    parser.addoption("--hints", action="store_true", help="exercises: a failure also gives the hint on the formula")


_ctrl_c = []  # a Ctrl-C pressed while grading (SIGINT's handler), told from a KeyboardInterrupt an answer raises


def _on_ctrl_c(signum, frame):
    _ctrl_c.append(signum)
    raise KeyboardInterrupt


def pytest_configure(config):
    if config.getoption("hints"):
        os.environ["HADAMARD_HINTS"] = "1"
    try:
        solutions_wanted(), hints_wanted()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    signal.signal(signal.SIGINT, _on_ctrl_c)


def pytest_collection_modifyitems(items):
    for item in items:
        item.obj = _answers_only(item.obj)


def _answers_only(test):
    """``test`` with a SystemExit, or a KeyboardInterrupt no Ctrl-C caused, from the code it grades turned into a
    failure of this exercise: the grading goes on to the others."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit) as error:
            if isinstance(error, KeyboardInterrupt) and _ctrl_c:
                raise
            raise ExerciseFailure(f"your code raised {error!r}: an answer returns its value (or raises an "
                                  f"error); it does not end the program") from None
    return run


def pytest_report_header(config):
    """What is graded; HADAMARD_SOLUTIONS=1 is offered only where solutions/ is (a learner's copy has none)."""
    if solutions_wanted():
        graded = "grading the reference solutions (HADAMARD_SOLUTIONS=1)"
    else:
        graded = "grading your exercises" + (" (HADAMARD_SOLUTIONS=1 grades the reference solutions)"
                                             if SOLUTIONS.is_dir() else "")
    return graded + ("; hints on the formula" if hints_wanted() else "; hints on the formula: --hints")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    error = call.excinfo.value if call.excinfo is not None else None
    if report.when == "call" and report.failed and isinstance(error, NotImplementedError):
        report.longrepr = f"NotImplementedError: {error}"
    elif report.when == "call" and report.failed and isinstance(error, ExerciseFailure):
        report.longrepr = str(error)
