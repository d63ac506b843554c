"""Exercises report like a teacher: an unwritten stub or a wrong answer is its message, not a traceback.

A stub raises ``NotImplementedError("exercise N: …")``; a wrong answer raises ``grading.ExerciseFailure``
with the element, the values and what the mistake looks like (an error your code raises is named with
your line). For those two the report is the message alone. ``--hints`` adds the hint on the formula
(the same as ``HADAMARD_HINTS=1``). Code that tries to end the run (``sys.exit()``, ``raise KeyboardInterrupt``)
fails its own exercise only; a Ctrl-C you press still stops the grading.

Each exercise is graded in a child process (where the system can fork), so that code which never returns
(an endless loop: stopped after ``--time-limit`` seconds) or ends the process itself (``os._exit()``) fails
its own exercise and the others are still graded. Hypothesis keeps its files in a temporary folder removed
at the end: grading writes nothing where it runs.
"""
import functools
import os
import pickle
import select
import signal
import sys
import tempfile
import time
import traceback
import types

import pytest
from grading import SOLUTIONS, ExerciseFailure, hints_wanted, solutions_wanted
from hypothesis.configuration import set_hypothesis_home_dir

from hadamard_min.cli.exercises import TIME_LIMIT_S


def pytest_addoption(parser):
    parser.addoption("--hints", action="store_true", help="exercises: a failure also gives the hint on the formula")
    parser.addoption("--time-limit", type=float, default=TIME_LIMIT_S, metavar="S",
                     help=f"exercises: each one's grading is stopped after S seconds (default: {TIME_LIMIT_S})")


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
    config.hypothesis_home = tempfile.TemporaryDirectory(prefix="hadamard-exercises-")
    set_hypothesis_home_dir(config.hypothesis_home.name)


def pytest_unconfigure(config):
    if hasattr(config, "hypothesis_home"):
        config.hypothesis_home.cleanup()


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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run the grader in a child process, within the time limit; in this one where the system cannot fork
    (there, with no time limit: an endless loop hangs the grading, and os._exit() ends it)."""
    if not hasattr(os, "fork"):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    _in_child(lambda: pyfuncitem.obj(**arguments), pyfuncitem.config.getoption("time_limit"))
    return True


def _in_child(test, limit):
    """``test()`` in a forked child; its error, if any, raised here. A child that runs past ``limit`` seconds
    is killed, one that ends without an answer is named: both are failures of this exercise."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()   # not to be written twice, by the child too
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reading)
        _answer_from_child(test, writing)
    os.close(writing)
    answer, ended = b"", False
    try:
        deadline = time.monotonic() + limit
        while not ended and time.monotonic() < deadline:
            if select.select([reading], [], [], max(0, deadline - time.monotonic()))[0]:
                chunk = os.read(reading, 1 << 16)
                answer, ended = answer + chunk, not chunk
    finally:
        os.close(reading)
        if not ended:
            os.kill(child, signal.SIGKILL)
        status = os.waitpid(child, 0)[1]
    if not ended:
        raise ExerciseFailure(f"your code took longer than {limit:g} s, the time limit (an endless loop?); "
                              "a slow machine can give more: --time-limit S")
    if not answer:
        raise ExerciseFailure(f"your code ended the process ({_ending(status)}) before its grading finished: "
                              "an answer returns its value (or raises an error)")
    text, pickled = pickle.loads(answer)   # plain str and bytes
    if pickled is None:
        return
    try:
        error = pickle.loads(pickled)
    except Exception:   # a class this process cannot load: the child's traceback as text
        error = RuntimeError(text)
        error.child_traceback = text
    raise error


def _answer_from_child(test, writing):
    """Run ``test`` and send its error (None: it passed) to the parent; never return."""
    try:
        test()
        error = None
    except BaseException as raised:   # every outcome goes to the parent
        error = _sendable(raised)
    with os.fdopen(writing, "wb") as pipe:
        pickled = None if error is None else pickle.dumps(error)
        pipe.write(pickle.dumps((getattr(error, "child_traceback", ""), pickled)))  # the text, if a class is not here
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


def _sendable(error):
    """``error`` with its traceback as text, or, where it cannot go through pickle (a class of the learner's
    file, arguments its class does not take), a RuntimeError of that text."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        error.child_traceback = text
        pickle.loads(pickle.dumps(error))
    except Exception:   # whatever the error's class does
        error = RuntimeError(text)
        error.child_traceback = text
    return error


def _ending(status):
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}: os._exit()?"


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
    elif report.when == "call" and report.failed and hasattr(error, "child_traceback"):
        report.longrepr = _ChildTraceback(error)


class _ChildTraceback:
    """The report of another error raised in the child: its traceback there (not where it was raised again
    here), and its last line in the summary."""

    def __init__(self, error):
        self.text = error.child_traceback.rstrip()
        self.reprcrash = types.SimpleNamespace(message=self.text.splitlines()[-1])

    def toterminal(self, out):
        out.line(self.text)

    def __str__(self):
        return self.text
