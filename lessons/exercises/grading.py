"""Grading of the exercises: load a stub (or the stub with its blanks filled from ``solutions/``), check it,
and fail with a message that teaches: which element, the value expected and the value got.

    load("ex03_tanh_softmax")          the stub as you edited it (HADAMARD_SOLUTIONS=1: filled from solutions/)
    check_gradient(what, fn, *inputs)  your backward against central differences (hadamard_min.gradcheck)
    compare(what, got, expected)       your result against the package's, element by element
    running(what)                      an error your code raises, named with the case and your line
    left_alone(what, {"x": x})         your function may read its inputs, not change them in place
    cases(strategy, *examples)         a check run on the examples, then on cases Hypothesis draws

Hints come in two steps: a failure names the element, the values and what the pattern of the mistake
suggests (a flipped sign, a constant factor, zeros); the hint on the formula comes only with
``HADAMARD_HINTS=1`` (or ``--hints`` on the pytest command line), so you can first look for it yourself.
A check names its hint by a key (``hint="ex03 tanh"``); the texts are in the package's hints.py, read only
then, and not in a learner's folder.

A solution file holds only what a learner writes: a function replaces the stub's function of that name, a
class lends its methods to the stub's class of that name. Each is re-bound to the stub's namespace, so it
runs exactly as if it had been typed into the stub.
"""
import contextlib
import importlib.util
import os
import re
import traceback
import types
from fractions import Fraction
from pathlib import Path

import numpy
from hypothesis import HealthCheck, example, given, settings

from hadamard_min.cli.exercises import SOURCE
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.core.tensor import BackwardError, Tensor

HERE = Path(__file__).resolve().parent
SOLUTIONS = HERE / "solutions"


class ExerciseFailure(AssertionError):
    """An exercise's answer is wrong; the message says where, by how much, and what the cause may be."""


def _switch(name, meaning):
    value = os.environ.get(name, "0").strip()
    if value not in ("0", "1"):
        raise ValueError(f"{name} must be 0 or 1 ({meaning}), not {value!r}")
    return value == "1"


def solutions_wanted():
    """HADAMARD_SOLUTIONS=1: grade the reference solutions; unset or 0: grade the stubs as edited.

    A ValueError where it is 1 and this folder has no solutions/ (a learner's copy)."""
    wanted = _switch("HADAMARD_SOLUTIONS", "1: grade the reference solutions instead of your stubs")
    if wanted:
        _check_solutions()
    return wanted


def _check_solutions():
    if not SOLUTIONS.is_dir():
        raise ValueError(f"HADAMARD_SOLUTIONS=1: no folder solutions/ in {HERE} (a copy made by "
                         "'hadamard-exercises start' has none: unset it to grade your own answers)")


def hints_wanted():
    """HADAMARD_HINTS=1 (or pytest's ``--hints``): a failure also gives the hint on the formula."""
    return _switch("HADAMARD_HINTS", "1: a failure also gives the hint on the formula")


def load(name, solutions=None):
    """A fresh copy of exercise ``name`` (e.g. "ex03_tanh_softmax"); with ``solutions``, its blanks filled."""
    with running(f"{name}.py, as it is imported"):   # a SyntaxError, a missing module: named with its line
        module = _import(HERE / f"{name}.py", f"exercise_{name}")
    if solutions if solutions is not None else solutions_wanted():
        _check_solutions()
        fill(module, _import(SOLUTIONS / f"{name}.py", f"solution_{name}"))
    return module


def fill(module, answers):
    """Put the functions and methods of ``answers`` into ``module``, as if typed there."""
    for name, value in vars(answers).items():
        if isinstance(value, types.FunctionType) and value.__module__ == answers.__name__:
            setattr(module, name, _rebind(value, module))
        elif isinstance(value, type) and value.__module__ == answers.__name__:
            target = getattr(module, name)
            for attribute, method in vars(value).items():
                if isinstance(method, types.FunctionType):
                    setattr(target, attribute, _rebind(method, module))


def _rebind(function, module):
    rebound = types.FunctionType(function.__code__, vars(module), function.__name__, function.__defaults__,
                                 function.__closure__)
    rebound.__qualname__, rebound.__doc__ = function.__qualname__, function.__doc__
    return rebound


def _import(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- checks
def cases(strategy, *examples, count=40):
    """Decorate ``check(case)``: it runs on each of ``examples`` first, then on ``count`` cases drawn from
    ``strategy``; the first failure is reported, shrunk by Hypothesis to a small case. The draws are the
    same on every run, so a failure comes back until it is fixed."""
    def decorate(check):
        run = given(strategy)(check)
        for case in reversed(examples):
            run = example(case)(run)
        return settings(max_examples=count, deadline=None, database=None, derandomize=True, print_blob=False,
                        report_multiple_bugs=False, suppress_health_check=list(HealthCheck))(run)
    return decorate


@contextlib.contextmanager
def running(what, hint=""):
    """An error your code raises (an IndexError, a shape mismatch) becomes an ExerciseFailure that names the
    case, the error and the line of your file where it happened; a gradient of the wrong shape or count,
    which the engine stops, is named by the engine."""
    try:
        yield
    except (NotImplementedError, ExerciseFailure):
        raise
    except BackwardError as error:
        raise ExerciseFailure(_join(f"{what}: {_engine_message(error)}", _hint(hint))) from None
    except SyntaxError as error:   # an IndentationError too: the file cannot be read, no frame of it runs
        line = f"\n  at {Path(error.filename or '?').name}:{error.lineno}: {(error.text or '').strip()}"
        raise ExerciseFailure(f"{what}: your code raised {type(error).__name__}: {error.msg}{line}") from None
    except Exception as error:
        frames = traceback.extract_tb(error.__traceback__)
        mine = [f for f in frames if Path(f.filename).name.startswith("ex")] or frames[-1:]
        line = f"\n  at {Path(mine[-1].filename).name}:{mine[-1].lineno}: {mine[-1].line}" if mine else ""
        note = ("an array your code was given (dy: the engine's, perhaps shared) is not yours to change: compute a "
                "new one (x = x - m, not x -= m)") if "read-only" in str(error) else ""
        raise ExerciseFailure(_join(f"{what}: your code raised {type(error).__name__}: {error}{line}", note,
                                    _hint(hint))) from None


@contextlib.contextmanager
def left_alone(what, inputs):
    """An ExerciseFailure after the block where your code changed one of ``inputs`` ({name: array}) in place:
    its caller still holds that array (the package keeps ∇v in the explanation beside eq. 9's map of it)."""
    before = {name: numpy.array(value, copy=True) for name, value in inputs.items()}
    yield
    for name, value in inputs.items():
        changed = numpy.asarray(value) != before[name]
        if changed.any():
            index = tuple(int(i) for i in numpy.unravel_index(int(numpy.argmax(changed)), changed.shape))
            raise ExerciseFailure(f"{what} changed its input {name} in place (element {index}: "
                                  f"{before[name][index]:.6g} before, {numpy.asarray(value)[index]:.6g} after): "
                                  "its caller still uses it; compute a new array (x = x - m, not x -= m)")


def check_gradient(what, fn, *inputs, hint="", names=None, **options):
    """``fn``'s backward against central differences in float64; an ExerciseFailure at the worst element.

    ``names``: what each input is (``("question", "features")``), said in the message.
    """
    with running(what, hint):
        report = gradcheck(fn, *inputs, raise_on_failure=False, **options)
    for check in report.checks:
        if not check.passed:
            name = f" ({names[check.index]})" if names else ""
            at = f"input {check.index}{name}, {check.worst}"
            there = f"; the input there is {check.value:.6g}" if check.value is not None else ""
            expected = f"{what}: wrong at {at}: expected {check.numeric:.6g} (central differences)"
            if _no_gradient(fn, inputs, check.index):
                raise ExerciseFailure(f"{expected}, got None (a missing return?){there}")
            message = f"{expected}, got {check.analytic:.6g}{there}"
            raise ExerciseFailure(_join(message, check.kink, diagnosis(check.analytic, check.numeric),
                                        _hint(hint)))
    return report


def _no_gradient(fn, inputs, index):
    """Whether ``fn``'s backward gave input ``index`` no gradient at all (None), which the engine reads as 0."""
    tensors = [Tensor(x.data if isinstance(x, Tensor) else x, requires_grad=(i == index))
               for i, x in enumerate(inputs)]
    out = fn(*tensors)
    out.backward(numpy.ones(out.shape))
    return tensors[index].grad is None


def compare(what, got, expected, hint="", context=None, rtol=1e-7, atol=1e-9, diagnose=None):
    """``got`` ≈ ``expected`` element by element, else an ExerciseFailure naming the worst element.

    ``context``: {name: array of the same shape} printed at that element (the input x, the signal dy, …).
    ``diagnose(got, expected)``: what this exercise's mistake looks like ("" when it does not know); it stands in
    for the general hint (a flipped sign, zeros), which may mislead where the exercise knows better.
    """
    if got is None:
        raise ExerciseFailure(f"{what}: got None (a missing return?)")
    if isinstance(got, Tensor):
        raise ExerciseFailure(f"{what}: got a Tensor of shape {got.shape}, not an array (a Tensor's values are its "
                              ".data, the gradient at a leaf its .grad)")
    narrow, wide = (getattr(getattr(a, "dtype", None), "kind", "") == "f" and a.dtype for a in (got, expected))
    if narrow and wide and narrow.itemsize < wide.itemsize:   # float32 rounding fits in rtol 1e-7: values pass
        raise ExerciseFailure(f"{what}: dtype {narrow}, expected {wide} (a cast to {narrow} rounds every value: "
                              f"keep {wide})")
    try:
        got = numpy.asarray(got, dtype=numpy.float64)
    except (TypeError, ValueError):
        raise ExerciseFailure(f"{what}: got a {type(got).__name__}, not an array of numbers") from None
    expected = numpy.asarray(expected, dtype=numpy.float64)
    if got.shape != expected.shape:
        raise ExerciseFailure(_join(f"{what}: shape {got.shape}, expected {expected.shape}", _hint(hint)))
    excess = numpy.abs(got - expected) - (atol + rtol * numpy.abs(expected))
    excess = numpy.where(numpy.isnan(excess), numpy.inf, excess)
    if excess.size == 0 or excess.max() <= 0:
        return
    k = int(numpy.argmax(excess))
    index = tuple(int(i) for i in numpy.unravel_index(k, got.shape))
    g, e = got.reshape(-1)[k] + 0.0, expected.reshape(-1)[k] + 0.0   # + 0.0: no −0
    where = f" at element {index}" if got.ndim else ""
    message = f"{what}: wrong{where}: expected {e:.6g}, got {g:.6g}"
    if context:
        message += "; there " + ", ".join(f"{name} = {numpy.asarray(v).reshape(-1)[k]:.6g}"
                                          for name, v in context.items())
    raise ExerciseFailure(_join(message, (diagnose(got, expected) if diagnose else "") or diagnosis(got, expected),
                                _hint(hint)))


def diagnosis(got, expected):
    """A hint from the pattern of the mistake: a flipped sign, a constant factor, zeros, NaN."""
    got, expected = numpy.asarray(got, dtype=numpy.float64), numpy.asarray(expected, dtype=numpy.float64)
    scope = "everywhere" if got.size > 1 else "here"
    if not numpy.all(numpy.isfinite(got)):
        return "hint: your answer holds NaN or inf (a division by zero? a log of 0?)"
    if numpy.all(got == 0) and numpy.any(expected != 0):
        return f"hint: your answer is 0 {scope}: a term or a path is missing"
    nonzero = numpy.abs(expected) > 1e-12
    if not numpy.any(nonzero) or numpy.any((got != 0) & ~nonzero):
        return ""
    ratios = got[nonzero] / expected[nonzero]
    if numpy.ptp(ratios) > 1e-6 * max(1.0, abs(ratios[0])):
        return ""
    ratio = float(ratios[0])
    if abs(ratio + 1) < 1e-6:
        return f"hint: the sign is flipped {scope}"
    simple = Fraction(ratio).limit_denominator(8)
    if got.size > 1 or (abs(simple.numerator) <= 8 and abs(ratio - simple) < 1e-6 * abs(ratio)):
        return f"hint: got = {ratio:.6g} × expected {scope}: a constant factor is off (a mean for a sum? a 2?)"
    return ""


def _hint(key):
    """The hint on the formula named ``key`` at the second level only; at the first, how to ask for it."""
    if not key:
        return ""
    if not hints_wanted():
        return "(a hint on the formula: --hints or HADAMARD_HINTS=1)"
    return f"hint (formula): {_import(SOURCE / 'hints.py', 'exercise_hints').HINTS[key]}"


def _engine_message(error):
    """The engine's message on a gradient it refused, less its own suggestion ("  (sum over broadcast axes?)")
    unless the hints are asked for: that suggestion is the formula's first step."""
    return str(error) if hints_wanted() else re.sub(r"\s+\([^()]*\?\)$", "", str(error))


def _join(*parts):
    return "\n  ".join(part for part in parts if part)
