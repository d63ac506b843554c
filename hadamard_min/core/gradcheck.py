"""Check a backward against central differences, in float64.

For f: inputs → output and a fixed random cotangent u, the scalar L = Σ f(x) ∘ u has
dL/dx = the vector-Jacobian product the engine computes. Numerically,

    dL/dx_k ≈ (L(x + h e_k) − L(x − h e_k)) / 2h          (per element, small inputs)
    dL/dx · d ≈ (L(x + h d) − L(x − h d)) / 2h             (random directions d, large inputs)

and the two must agree to within ``atol + rtol·|numerical|``. The cotangent is random, not ones: with
u = 1 mistakes that cancel in the sum go unseen (Σ softmax(x) = 1 for every x, so softmax's true
gradient at u = 1 is zero and a backward that returns zeros would pass). Backward gets u read-only (NumPy):
dy may be the caller's array or shared by two inputs (Add), so a backward that changes it in place fails.

A failed check reports, at the worst element, the analytic and the numeric value and the input there,
and whether the one-sided slopes (L(x + h e) − L(x))/h and (L(x) − L(x − h e))/h differ: then the input
is within h of a kink or a tie (a ReLU at 0, two equal values in a max-pool window), where no gradient
exists and no backward can agree with central differences.
"""
from dataclasses import dataclass, field

import numpy

from hadamard_min.core.backend import array_module, to_numpy
from hadamard_min.core.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with the numerical one."""


class GradcheckArgumentError(ValueError):
    """gradcheck was called with something it cannot check: what is wrong, and what to pass."""


@dataclass
class InputCheck:
    index: int
    mode: str            # "per-element" or "projections"
    max_abs_error: float
    max_rel_error: float
    worst: str           # where the largest error is: "element (i, j)" or "direction k"
    passed: bool
    analytic: float = 0.0  # the engine's value there (an element of dL/dx, or dL/dx · d)
    numeric: float = 0.0   # the central difference there
    value: float = None    # the input element there (per-element mode only)
    kink: str = ""         # for a failed check: why the input may sit on a kink or a tie, else ""

    def details(self):
        """One or two lines on the worst element: the values, and a kink when there is one."""
        at = f"input {self.index}, {self.worst}: analytic {self.analytic:.6g}, numeric {self.numeric:.6g}"
        if self.value is not None:
            at += f", the input there is {self.value:.6g}"
        return at + (f"\n  {self.kink}" if self.kink else "")


@dataclass
class GradcheckReport:
    checks: list = field(default_factory=list)

    @property
    def passed(self):
        return all(c.passed for c in self.checks)

    def __str__(self):
        lines = ["input  mode          max abs err   max rel err   worst at            ok"]
        for c in self.checks:
            lines.append(f"{c.index:>5}  {c.mode:<12}  {c.max_abs_error:11.3e}   {c.max_rel_error:11.3e}   "
                         f"{c.worst:<18}  {'yes' if c.passed else 'NO'}")
        lines += [c.details() for c in self.checks if not c.passed]
        return "\n".join(lines)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, max_elements=256, projections=16,
              seed=0, raise_on_failure=True):
    """Compare the engine's gradient of ``fn(*inputs)`` with central differences.

    ``inputs`` are arrays or Tensors; those that are floating point are checked, as float64 copies.
    Inputs with at most ``max_elements`` elements are checked element by element, larger ones along
    ``projections`` random directions. Returns a ``GradcheckReport``; raises ``GradcheckError``
    with that report when a check fails (unless ``raise_on_failure=False``).
    """
    _check_arguments(fn, inputs, eps, atol, rtol, max_elements, projections)
    rng = numpy.random.default_rng(seed)
    arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
    xp = array_module(arrays[0])
    arrays = [a.astype(xp.float64) if a.dtype.kind == "f" else a for a in arrays]
    checked = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]

    def loss(values):
        tensors = [Tensor(v) for v in values]
        return float((fn(*tensors).data * cotangent).sum())

    tensors = [Tensor(a, requires_grad=(i in checked)) for i, a in enumerate(arrays)]
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise GradcheckArgumentError(f"fn must return a Tensor (made by the engine's ops from its inputs), not "
                                     f"{type(out).__name__}: its backward is what gradcheck checks")
    cotangent = xp.asarray(rng.standard_normal(out.shape))
    out.backward(_read_only(cotangent.copy()))   # a backward that changes its dy in place fails, not L
    report = GradcheckReport()
    for i in checked:
        analytic = tensors[i].grad if tensors[i].grad is not None else xp.zeros_like(arrays[i])
        if arrays[i].size <= max_elements:
            numeric, got, directions = _per_element(loss, arrays, i, eps, analytic)
            mode = "per-element"
        else:
            numeric, got, directions = _projections(loss, arrays, i, eps, analytic, projections, rng)
            mode = "projections"
        error = numpy.abs(got - numeric)
        k = int(numpy.argmax(error - (atol + rtol * numpy.abs(numeric))))
        rel = error / numpy.maximum(numpy.abs(numeric), 1e-12)
        passed = bool(numpy.all(error <= atol + rtol * numpy.abs(numeric)))
        if mode == "per-element":
            index = tuple(int(j) for j in numpy.unravel_index(k, arrays[i].shape))
            worst, value = f"element {index}", float(to_numpy(arrays[i]).reshape(-1)[k])
        else:
            worst, value = f"direction {k}", None
        kink = "" if passed else _kink(loss, arrays, i, directions(k), eps)
        report.checks.append(InputCheck(i, mode, float(error.max()), float(rel.max()), worst, passed,
                                        float(got[k]) + 0.0, float(numeric[k]) + 0.0, value, kink))  # + 0.0: no −0
    if raise_on_failure and not report.passed:
        raise GradcheckError("gradient check failed:\n" + str(report))
    return report


def _read_only(array):
    """``array``, not writeable where NumPy can say so: dy may be shared (Add passes one array to both of its
    inputs) or be the caller's own, so a backward must not change it in place."""
    if isinstance(array, numpy.ndarray):
        array.flags.writeable = False
    return array


def _check_arguments(fn, inputs, eps, atol, rtol, max_elements, projections):
    if not callable(fn):
        raise GradcheckArgumentError(f"fn must be a function of the inputs, not {type(fn).__name__}")
    arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
    if not arrays or not all(hasattr(a, "dtype") and hasattr(a, "shape") for a in arrays):
        raise GradcheckArgumentError("gradcheck(fn, *inputs) takes one or more arrays or Tensors after fn "
                                     "(numpy.array([...]) makes one of a list)")
    if not any(a.dtype.kind == "f" for a in arrays):
        raise GradcheckArgumentError("no input is floating point: gradcheck checks the gradients of float inputs")
    for name, value, low in (("eps", eps, 0), ("atol", atol, None), ("rtol", rtol, None)):
        if not (isinstance(value, int | float) and numpy.isfinite(value) and (value > 0 if low == 0 else value >= 0)):
            raise GradcheckArgumentError(f"{name} must be a finite number {'> 0' if low == 0 else '>= 0'}, "
                                         f"not {value!r}")
    for name, value, low in (("max_elements", max_elements, 0), ("projections", projections, 1)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise GradcheckArgumentError(f"{name} must be a whole number >= {low}, not {value!r}")


def _per_element(loss, arrays, i, eps, analytic):
    x = arrays[i]
    numeric = numpy.empty(x.size)
    for k in range(x.size):
        numeric[k] = _central(loss, arrays, i, _unit(x, k), eps)
    return numeric, to_numpy(analytic).reshape(-1), lambda k: _unit(x, k)


def _projections(loss, arrays, i, eps, analytic, count, rng):
    xp = array_module(arrays[i])
    numeric, got, directions = numpy.empty(count), numpy.empty(count), []
    for k in range(count):
        directions.append(xp.asarray(rng.standard_normal(arrays[i].shape)))
        numeric[k] = _central(loss, arrays, i, directions[k], eps)
        got[k] = float((analytic * directions[k]).sum())
    return numeric, got, directions.__getitem__


def _unit(x, k):
    e = array_module(x).zeros_like(x)
    e[numpy.unravel_index(k, x.shape)] = 1.0
    return e


def _step(arrays, i, direction, eps):
    moved = list(arrays)
    moved[i] = arrays[i] + eps * direction
    return moved


def _central(loss, arrays, i, direction, eps):
    return (loss(_step(arrays, i, direction, eps)) - loss(_step(arrays, i, direction, -eps))) / (2 * eps)


def _kink(loss, arrays, i, direction, eps):
    """A sentence when the one-sided slopes at x along ``direction`` differ (a kink within h), else ""."""
    base = loss(arrays)
    right = (loss(_step(arrays, i, direction, eps)) - base) / eps
    left = (base - loss(_step(arrays, i, direction, -eps))) / eps
    if abs(right - left) <= 1e-3 * max(1.0, abs(left), abs(right)):  # smooth: they differ by about h·L''
        return ""
    return (f"the one-sided slopes differ there (left {left:.6g}, right {right:.6g}): the input is within "
            f"h = {eps:g} of a kink or a tie (a ReLU input at 0, equal values in a max-pool window), where "
            f"no gradient exists; move the test input away from it")
