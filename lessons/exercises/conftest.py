"""Exercises report like a teacher: an unwritten stub or a wrong answer is its message, not a traceback.

A stub raises ``NotImplementedError("exercise N: …")``; a wrong answer raises ``grading.ExerciseFailure``
with the element, the values and a hint. For those two the report is the message alone (any other error,
a typo in your code say, keeps its full traceback, which points at your line).
"""
import pytest
from grading import ExerciseFailure, solutions_wanted


def pytest_report_header(config):
    try:
        solutions = solutions_wanted()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    return ("grading the reference solutions (HADAMARD_SOLUTIONS=1)" if solutions
            else "grading your exercises (HADAMARD_SOLUTIONS=1 grades the reference solutions)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    error = call.excinfo.value if call.excinfo is not None else None
    if report.when == "call" and report.failed and isinstance(error, NotImplementedError):
        report.longrepr = f"NotImplementedError: {error}"
    elif report.when == "call" and report.failed and isinstance(error, ExerciseFailure):
        report.longrepr = str(error)
