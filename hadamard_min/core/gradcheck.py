"""Check a backward against central differences, in float64.

For f: inputs → output and a fixed random cotangent u, the scalar L = Σ f(x) ∘ u has
dL/dx = the vector-Jacobian product the engine computes. Numerically,

    dL/dx_k ≈ (L(x + h e_k) − L(x − h e_k)) / 2h          (per element, small inputs)
    dL/dx · d ≈ (L(x + h d) − L(x − h d)) / 2h             (random directions d, large inputs)

and the two must agree to within ``atol + rtol·|numerical|``.
"""
from dataclasses import dataclass, field

import numpy

from hadamard_min.core.backend import array_module, to_numpy
from hadamard_min.core.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with the numerical one."""


@dataclass
class InputCheck:
    index: int
    mode: str            # "per-element" or "projections"
    max_abs_error: float
    max_rel_error: float
    worst: str           # where the largest error is
    passed: bool


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
        return "\n".join(lines)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, max_elements=256, projections=16,
              seed=0, raise_on_failure=True):
    """Compare the engine's gradient of ``fn(*inputs)`` with central differences.

    ``inputs`` are arrays or Tensors; those that are floating point are checked, as float64 copies.
    Inputs with at most ``max_elements`` elements are checked element by element, larger ones along
    ``projections`` random directions. Returns a ``GradcheckReport``; raises ``GradcheckError``
    with that report when a check fails (unless ``raise_on_failure=False``).
    """
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
    cotangent = xp.asarray(rng.standard_normal(out.shape))
    out.backward(cotangent)
    report = GradcheckReport()
    for i in checked:
        analytic = tensors[i].grad if tensors[i].grad is not None else xp.zeros_like(arrays[i])
        if arrays[i].size <= max_elements:
            numeric, got, where = _per_element(loss, arrays, i, eps, analytic)
            mode = "per-element"
        else:
            numeric, got, where = _projections(loss, arrays, i, eps, analytic, projections, rng)
            mode = "projections"
        error = numpy.abs(got - numeric)
        k = int(numpy.argmax(error - (atol + rtol * numpy.abs(numeric))))
        rel = error / numpy.maximum(numpy.abs(numeric), 1e-12)
        passed = bool(numpy.all(error <= atol + rtol * numpy.abs(numeric)))
        report.checks.append(InputCheck(i, mode, float(error.max()), float(rel.max()), where(k), passed))
    if raise_on_failure and not report.passed:
        raise GradcheckError("gradient check failed:\n" + str(report))
    return report


def _per_element(loss, arrays, i, eps, analytic):
    x = arrays[i]
    numeric = numpy.empty(x.size)
    for k in range(x.size):
        index = numpy.unravel_index(k, x.shape)
        numeric[k] = _central(loss, arrays, i, _unit(x, index), eps)
    def where(k):
        return f"element {tuple(int(j) for j in numpy.unravel_index(k, x.shape))}"
    return numeric, to_numpy(analytic).reshape(-1), where


def _projections(loss, arrays, i, eps, analytic, count, rng):
    xp = array_module(arrays[i])
    numeric, got = numpy.empty(count), numpy.empty(count)
    for k in range(count):
        direction = xp.asarray(rng.standard_normal(arrays[i].shape))
        numeric[k] = _central(loss, arrays, i, direction, eps)
        got[k] = float((analytic * direction).sum())
    return numeric, got, lambda k: f"direction {k}"


def _unit(x, index):
    e = array_module(x).zeros_like(x)
    e[index] = 1.0
    return e


def _central(loss, arrays, i, direction, eps):
    plus = list(arrays)
    minus = list(arrays)
    plus[i] = arrays[i] + eps * direction
    minus[i] = arrays[i] - eps * direction
    return (loss(plus) - loss(minus)) / (2 * eps)
