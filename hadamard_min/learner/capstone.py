"""The capstone: the shipped model explains its example on the learner's ops, next to the package's own.

    python -m hadamard_min.learner DIR [--out FILE.png]

Both runs take the reference path (the fast path off), float32, on the same machine, so the only difference
is the learner's code: the answers must be the same, ∇v equal to float32 rounding (the learner's sums may
run in another order), and the token z-scores alike. The figure (the paper's Figure 2) is drawn from the
learner's run: ∇v, eq. 9 and eq. 11 as the learner computed them.
"""
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy

from hadamard_min.data.example import EXAMPLE_IMAGE, example_question
from hadamard_min.explain.methods import explain
from hadamard_min.explain.result import Explanation
from hadamard_min.fast.switch import fast
from hadamard_min.io.model_files import load_model
from hadamard_min.learner.ops import LearnerError, LearnerRun, learner

COMPLEX_WARNING = getattr(numpy, "exceptions", numpy).ComplexWarning  # NumPy ≥ 1.25 moved it
# max |Δ∇v| / max |∇v| and max |Δz| within which the learner's run agrees with the package's: float32 rounding of
# sums in another order (the reference solutions: 0 and 1e-7), far below what one wrong op gives (0.5 to 30)
AGREEMENT = 1e-4


@dataclass
class Comparison:
    """The package's explanation, the learner's, and how far apart they are."""
    package: Explanation
    yours: Explanation
    run: LearnerRun

    @property
    def same_answers(self):
        """The same answer and the same ranked top answers."""
        return ([a for a, _ in self.package.top_k] == [a for a, _ in self.yours.top_k]
                and self.package.answer == self.yours.answer)

    @property
    def agrees(self):
        """The same answers, and ∇v and the token z-scores equal to float32 rounding (``AGREEMENT``)."""
        return self.same_answers and self.grad_v_difference <= AGREEMENT and self.z_difference <= AGREEMENT

    @property
    def grad_v_difference(self):
        """max |Δ∇v| / max |∇v| (the package's ∇v as the scale)."""
        scale = numpy.abs(self.package.grad_v).max()
        difference = numpy.abs(numpy.asarray(self.yours.grad_v, numpy.float64) - self.package.grad_v).max()
        return float(difference / scale) if scale > 0 else float(difference)

    @property
    def z_difference(self):
        """max |Δz| over the question's tokens (eq. 11)."""
        return float(numpy.abs(numpy.asarray(self.yours.token_z) - self.package.token_z).max())

    def table(self):
        """The comparison as lines of text."""
        rows = [f"question: {self.package.question}",
                f"answer:   package {self.package.answer!r} ({self.package.probability:.4f}), "
                f"yours {self.yours.answer!r} ({self.yours.probability:.4f})  "
                f"{'same' if self.same_answers else 'DIFFERENT'} (top {len(self.package.top_k)} too)",
                f"∇v:       max |Δ∇v| / max |∇v| = {self.grad_v_difference:.2e}  {_verdict(self.grad_v_difference)}",
                "tokens:   " + "  ".join(f"{t} {zp:+.3f}/{zy:+.3f}" for t, zp, zy in
                                         zip(self.package.tokens, self.package.token_z, self.yours.token_z)),
                f"          (z-score: package/yours; max |Δz| = {self.z_difference:.2e})  "
                f"{_verdict(self.z_difference)}"]
        return "\n".join(rows)


def _verdict(difference):
    return "same" if difference <= AGREEMENT else f"DIFFERENT (more than {AGREEMENT:g}: one of your ops is wrong)"


def compare(folder, model=None, image=EXAMPLE_IMAGE, question=None):
    """Explain ``question`` about ``image`` with the package's ops and with the learner's from ``folder``.

    Defaults: the shipped model and its example. Returns a :class:`Comparison`.
    """
    model = model or load_model()
    question = question or example_question()
    with fast(False):
        package = explain(model, image, question)
    with learner(folder) as run, warnings.catch_warnings():
        warnings.simplefilter("error", COMPLEX_WARNING)  # complex numbers from the learner's ops: said, not cast
        try:
            yours = explain(model, image, question)
        except LearnerError:
            raise
        except Exception as error:  # the learner's code, or the engine on what it returned: said in one line
            raise LearnerError(f"with your ops the explanation failed{_where(error, folder)}: "
                               f"{type(error).__name__}: {error}") from None
    grad_v = numpy.asarray(yours.grad_v)
    bad = grad_v.size if grad_v.dtype.kind != "f" else int(grad_v.size - numpy.isfinite(grad_v).sum())
    if bad:
        raise LearnerError(f"with your ops {bad} of ∇v's {grad_v.size} values are not finite real numbers "
                           f"({grad_v.dtype}): look at {', '.join(run.learners_ops()) or 'your ops'}")
    return Comparison(package, yours, run)


def _where(error, folder):
    """' (your ex07_relu_rules.py, line 3)': the last line of the learner's files that the error went through."""
    folder = Path(folder).resolve()
    mine = [frame for frame in traceback.extract_tb(error.__traceback__)
            if Path(frame.filename).resolve().is_relative_to(folder)]
    return f" (your {Path(mine[-1].filename).name}, line {mine[-1].lineno})" if mine else ""
