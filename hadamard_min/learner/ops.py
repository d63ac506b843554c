"""Learner mode: the ops a learner wrote in the exercises run the package's models in place of its own.

    with hm.learner("my-exercises") as mine:     a folder holding ex02_unbroadcast.py, ex07_relu_rules.py, …
        e = hm.explain(model, image, question)   every op below is the learner's where it is written
    print(mine.report())                         which ops were the learner's and which the package's

``OPS`` below is the one table of what can be swapped: for each op, the exercise that writes it, the names
the learner writes there, and where the package keeps its own (a function in a module, a method of a
class). Entering the block puts an adapter at each of those places and switches the fast path off (the
learner writes the reference ops); leaving it puts the package's back. An exercise still blank (it raises
``NotImplementedError("exercise N: …")``) or missing from the folder leaves the package's op in place,
and the report says so. ``HADAMARD_LEARNER=DIR`` does the same for the lessons.
"""
import ast
import contextlib
import importlib.util
import inspect
import os
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy

from hadamard_min.core.backend import array_module, get_device
from hadamard_min.explain import hadamard, methods
from hadamard_min.fast.switch import fast
from hadamard_min.models.mlb import MLB, MLBOutput
from hadamard_min.models.question import GRU
from hadamard_min.ops import conv, elementwise, linalg, nn
from hadamard_min.ops.relu import ReLU, rule_for_backward


class LearnerError(ValueError):
    """The learner's folder is missing, an exercise file in it cannot be imported, or the device is a GPU."""


# --------------------------------------------------------------------------- adapters
# Each turns the learner's code (``mine``) into what the package's site expects; ``package`` is the op it
# replaces, for the cases the exercise does not cover.
def _as_is(mine, package):
    return mine


def _relu_rules(mine, package):
    def backward(self, dy):   # the exercise's relu_backward(dy, mask, rule) inside the package's ReLU
        return (mine(dy, self.saved[0], rule_for_backward(self.rule)),)
    return backward


def _mlb_forward(mine, package):
    def forward(self, q, features):   # the exercise writes eq. 4-7 of the evaluation-mode MLB
        if self.training or self.tanh_after_attention or self.tanh_before_classifier:
            return package(self, q, features)
        alpha, Q, V, F, logits = mine(self, q, features)
        return MLBOutput(alpha=alpha, attended=None, Q=Q, V=V, F=F, logits=logits)
    return forward


def _deviation_gradients(mine, package):
    def deviation_gradients(out, I, q, fix_f=True, sign="paper", guided=True):   # the exercise has no sign
        if sign != "paper":
            return package(out, I, q, fix_f, sign, guided)
        return mine(out, I, q, fix_f, guided)
    return deviation_gradients


def _gru_step(cell, package):
    """The GRU's step as the learner's ``GRUCell`` (forward given, backward written), weights held fixed.

    The package projects every step's input at once (x W_iᵀ + b_i, one Linear), so the cell gets the
    projected input with W_i = I and b_i = 0: the same step, and dx is the gradient at the projection.
    """
    def step(self, x_t, h, w_rz, w_n, b_rz, b_n):
        if self.candidate != "reset_after" or self.weight_hh.requires_grad:   # the cell's form, frozen weights
            return package(self, x_t, h, w_rz, w_n, b_rz, b_n)
        xp, size = array_module(x_t.data), x_t.shape[-1]
        identity, zero = xp.eye(size, dtype=x_t.dtype), xp.zeros(size, dtype=x_t.dtype)
        return cell.apply(x_t, h, weights=(identity, self.weight_hh.data, zero, self.bias_hh.data))
    return step


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Op:
    """One op a learner writes: its exercise, the learner's name for it, and where the package keeps its own."""
    title: str
    exercise: str          # the exercise file's stem, e.g. "ex07_relu_rules"
    name: str              # what the learner writes there: "relu_backward", or "Tanh.backward"
    sites: tuple           # ((owner, attribute), …): the package's places of the op
    adapter: object = _as_is
    probe: object = None   # for an op whose blank would show only too late: runs it once, raising if blank


def _probe_gru(cell):
    one = numpy.ones((1, 1))
    step = cell(weights=(numpy.ones((3, 1)), numpy.ones((3, 1)), numpy.zeros(3), numpy.zeros(3)))
    step.forward(one, one)
    step.backward(one)


OPS = (
    Op("unbroadcast (the backward of broadcasting)", "ex02_unbroadcast", "unbroadcast",
       ((elementwise, "unbroadcast"), (linalg, "unbroadcast"))),
    Op("tanh backward", "ex03_tanh_softmax", "Tanh.backward", ((elementwise.Tanh, "backward"),)),
    Op("softmax backward", "ex03_tanh_softmax", "Softmax.backward", ((nn.Softmax, "backward"),)),
    Op("matmul backward", "ex04_matmul", "MatMul.backward", ((linalg.MatMul, "backward"),)),
    Op("col2im (the convolution's backward)", "ex05_conv_col2im", "col2im", ((conv.Conv2d, "col2im"),)),
    Op("max-pool backward", "ex06_maxpool", "MaxPool2d.backward", ((conv.MaxPool2d, "backward"),)),
    Op("ReLU rules (guided backprop, eq. 2)", "ex07_relu_rules", "relu_backward", ((ReLU, "backward"),),
       _relu_rules),
    Op("GRU cell backward (∂Q/∂q, eq. 3)", "ex08_gru_cell", "GRUCell", ((GRU, "_step"),), _gru_step, _probe_gru),
    Op("MLB forward (eq. 4-7)", "ex09_mlb", "mlb_forward", ((MLB, "forward"),), _mlb_forward),
    Op("deviation gradients (eq. 2-3)", "ex10_deviation_gradients", "deviation_gradients",
       ((hadamard, "deviation_gradients"),), _deviation_gradients),
    Op("pixel map (eq. 9)", "ex11_postprocess", "normalise_pixel_map",
       ((hadamard, "normalise_pixel_map"), (methods, "normalise_pixel_map"))),
    Op("token scores (eq. 10)", "ex11_postprocess", "token_scores",
       ((hadamard, "token_scores"), (methods, "token_scores"))),
    Op("token z-scores (eq. 11)", "ex11_postprocess", "token_z_scores",
       ((hadamard, "token_z_scores"), (methods, "token_z_scores"))),
)


# --------------------------------------------------------------------------- a run
@dataclass
class Usage:
    """How one op ran in a learner-mode block: ``state`` is "yours", "blank" or "missing"; ``calls`` counts."""
    op: Op
    state: str
    calls: int = 0
    why: str = ""


@dataclass
class LearnerRun:
    """What a ``learner(...)`` block swapped in, and how often each op of the learner's ran."""
    folder: Path
    usage: list = field(default_factory=list)

    def learners_ops(self):
        """The titles of the ops that ran as the learner wrote them."""
        return [u.op.title for u in self.usage if u.state == "yours"]

    def report(self):
        """One line per op: the learner's (and how often it ran) or the package's, and why."""
        lines = [f"ops from {self.folder}:"]
        for u in self.usage:
            where = f"{u.op.exercise}.py: {u.op.name}"
            if u.state == "yours":
                ran = f"ran {u.calls}×" if u.calls else "not reached in this run"
                lines.append(f"  yours      {u.op.title:44} {where}  ({ran})")
            else:
                lines.append(f"  package's  {u.op.title:44} {where}  ({u.why})")
        return "\n".join(lines)


def _is_blank(error):
    """A stub not written yet: its ``NotImplementedError`` names the exercise ("exercise N: …")."""
    return isinstance(error, NotImplementedError) and "exercise" in str(error).lower()


def _blank_message(function):
    """The message of the stub's ``NotImplementedError`` if ``function`` is still the stub (its body, past the
    docstring, only raises it), else None: a blank that the run does not reach is told from an answer."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):   # no source to read (a builtin, a lambda typed at a prompt)
        return None
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.FunctionDef) else []
    body = body[1:] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or not isinstance(body[0].exc, ast.Call):
        return None
    call = body[0].exc
    argument = call.args[0] if call.args else None
    if getattr(call.func, "id", "") != "NotImplementedError" or not isinstance(argument, ast.Constant):
        return None
    return argument.value if _is_blank(NotImplementedError(argument.value)) else None


def _counted(usage, mine, package):
    """``mine``, counting its calls; on its first blank (NotImplementedError "exercise N: …"), the package's."""
    def run(*args, **kwargs):
        if usage.state == "yours":
            try:
                answer = mine(*args, **kwargs)
            except NotImplementedError as error:
                if not _is_blank(error):
                    raise
                usage.state, usage.why = "blank", f"still blank: {error}"
            except SystemExit as error:  # the learner's code would end the whole run, silently
                raise LearnerError(f"your {usage.op.name} ({usage.op.exercise}.py) called sys.exit"
                                   f"({error.code!r})") from None
            else:
                usage.calls += 1
                return answer
        return package(*args, **kwargs)
    return run


def load_exercise(path):
    """The learner's exercise file at ``path`` as a fresh module (importable under its own name meanwhile)."""
    name = f"learner_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a syntax error, a failing line, sys.exit() at import
        raise LearnerError(f"{path} cannot be imported: {type(error).__name__}: {error}") from None
    finally:
        sys.modules.pop(name, None)
    return module


def _lookup(module, dotted):
    value = module
    for part in dotted.split("."):
        value = getattr(value, part, None)
    return value


def _plan(folder):
    """[(usage, {site: replacement})] for every op of ``OPS``, the learner's where written."""
    modules, plan = {}, []
    for op in OPS:
        path = folder / f"{op.exercise}.py"
        if not path.is_file():
            plan.append((Usage(op, "missing", why=f"no {path.name} in the folder"), {}))
            continue
        if op.exercise not in modules:
            modules[op.exercise] = load_exercise(path)
        mine, usage = _lookup(modules[op.exercise], op.name), Usage(op, "yours")
        if mine is None:
            plan.append((Usage(op, "missing", why=f"{path.name} has no {op.name}"), {}))
            continue
        blank = _blank_message(mine)
        if blank is None and op.probe is not None:
            try:
                op.probe(mine)
            except (Exception, SystemExit) as error:  # the learner's code on a 1×1 step: said in one line
                if not (isinstance(error, NotImplementedError) and _is_blank(error)):
                    line = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
                            if Path(frame.filename).resolve() == path.resolve()]
                    raise LearnerError(f"your {op.name} ({path.name}{f', line {line[-1]}' if line else ''}) failed "
                                       f"on a 1×1 step: {type(error).__name__}: {error}") from None
                blank = str(error)
        if blank is not None:
            plan.append((Usage(op, "blank", why=f"still blank: {blank}"), {}))
            continue
        replacements = {}
        for owner, attribute in op.sites:
            package = getattr(owner, attribute)
            swapped = _counted(usage, op.adapter(mine, package), package)
            if isinstance(vars(owner).get(attribute), staticmethod):
                swapped = staticmethod(swapped)
            replacements[(owner, attribute)] = swapped
        plan.append((usage, replacements))
    return plan


@contextlib.contextmanager
def learner(folder):
    """Inside this block the package runs the learner's ops from ``folder`` (see the module's docstring).

    Yields a :class:`LearnerRun` whose ``report()`` lists which ops were the learner's.
    """
    if not isinstance(folder, str | os.PathLike):
        raise LearnerError(f"learner takes the path of a folder of exercises (str or pathlib.Path), not "
                           f"{type(folder).__name__}")
    if not os.fspath(folder):  # pathlib reads "" as "." (this folder): no exercise would be found, silently
        raise LearnerError("the folder's path is empty: give learner the folder of your exercises")
    folder = Path(folder)
    if not folder.is_dir():
        raise LearnerError(f"{folder} is not a folder of exercises (ex02_unbroadcast.py, …)")
    if get_device() != "cpu":
        raise LearnerError("learner mode runs on the CPU (the exercises compute with NumPy): set_device('cpu')")
    plan = _plan(folder)
    saved = {site: vars(site[0])[site[1]] for _, replacements in plan for site in replacements}
    try:
        for _, replacements in plan:
            for (owner, attribute), swapped in replacements.items():
                setattr(owner, attribute, swapped)
        with fast(False):
            yield LearnerRun(folder, [usage for usage, _ in plan])
    finally:
        for (owner, attribute), original in saved.items():
            setattr(owner, attribute, original)


def environment_folder():
    """``HADAMARD_LEARNER``: the folder of the learner's exercises, or None when unset or empty."""
    value = os.environ.get("HADAMARD_LEARNER", "").strip()
    return Path(value) if value else None
