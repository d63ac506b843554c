"""Lesson 2: an autograd engine built up from nothing, then the real one, its gradient check, and a new op.

Part 1 writes a whole engine in about sixty lines: a tensor that remembers the op that made it, ops with a
``forward`` and a ``backward`` side by side, and a walk over the graph in topological order that calls each
backward from the output back. It runs lesson 1's expression and draws the graph with every value and
gradient. Part 2 tours what ``hadamard_min/core/tensor.py`` adds to it, and why: a graph of nodes that hold
no arrays, a graph freed by backward, ``no_grad``, ReLU's rules, and checks on what a backward returns.
Part 3 runs the real engine on tensors (broadcasting, matrix products, cross-entropy) and checks every
gradient with ``gradcheck`` (central differences in float64, with a *random* cotangent: we see why).
Part 4 writes a new op, Softplus, in ten lines, breaks it on purpose and reads what the engine says.
Run:  python lessons/02_engine_and_gradcheck.py   (after ``pip install -e .``, or with ``PYTHONPATH=.``).
Then do exercises 1-4 (lessons/exercises/README.md).
"""
import math
import weakref

import _lesson
import numpy

from hadamard_min import BackwardError, Function, Tensor, no_grad, ops, relu_rule
from hadamard_min.core.gradcheck import GradcheckError, gradcheck
from hadamard_min.core.tensor import topological_order
from hadamard_min.ops.nn import Softmax


# --------------------------------------------------------------------------- part 1: the engine in 60 lines
class TinyTensor:
    """An array, its gradient, and how it was made: the op and the tensors it read."""

    def __init__(self, data, op=None, inputs=()):
        self.data, self.grad, self.op, self.inputs = numpy.asarray(data, dtype=float), None, op, inputs

    def __add__(self, other):
        return TinyAdd()(self, other)

    def __mul__(self, other):
        return TinyMul()(self, other)

    def tanh(self):
        return TinyTanh()(self)

    def backward(self):
        """Seed ∂self/∂self = 1, then hand each tensor's complete gradient to its op's backward."""
        self.grad = numpy.ones_like(self.data)
        for tensor in reversed(tiny_order(self)):
            if tensor.op is not None:
                for parent, g in zip(tensor.inputs, tensor.op.backward(tensor.grad)):
                    parent.grad = g if parent.grad is None else parent.grad + g   # a reused tensor adds up


class TinyFunction:
    """One op: ``forward`` on arrays (saving what backward needs), ``backward`` from dy to one dx per input."""

    def __call__(self, *inputs):
        return TinyTensor(self.forward(*(x.data for x in inputs)), op=self, inputs=inputs)


class TinyAdd(TinyFunction):
    def forward(self, a, b):              # y = a + b
        return a + b

    def backward(self, dy):               # da = dy, db = dy
        return dy, dy


class TinyMul(TinyFunction):
    def forward(self, a, b):              # y = a ∘ b
        self.a, self.b = a, b
        return a * b

    def backward(self, dy):               # da = dy ∘ b, db = dy ∘ a
        return dy * self.b, dy * self.a


class TinyTanh(TinyFunction):
    def forward(self, x):                 # y = tanh x
        self.y = numpy.tanh(x)
        return self.y

    def backward(self, dy):               # dx = dy (1 − y²)
        return (dy * (1 - self.y ** 2),)


def tiny_order(root):
    """Every tensor ``root`` depends on, each after its inputs: post-order DFS with a stack, no recursion."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
        elif id(tensor) not in seen:
            seen.add(id(tensor))
            stack.append((tensor, True))
            stack.extend((parent, False) for parent in tensor.inputs)
    return order


def draw(root, names):
    """The graph as a tree from the output back; a tensor reached twice is drawn once."""
    lines, drawn, stack = [], set(), [(root, "", "")]
    while stack:
        tensor, lead, child_lead = stack.pop()
        label = names[id(tensor)] + ("  (drawn above)" if id(tensor) in drawn else "")
        lines.append(f"  {lead + label:<26} value {tensor.data.item(): .6f}   grad {tensor.grad.item(): .6f}")
        if id(tensor) not in drawn:
            drawn.add(id(tensor))
            for k, parent in reversed(list(enumerate(tensor.inputs))):
                last = k == len(tensor.inputs) - 1
                stack.append((parent, child_lead + ("└─ " if last else "├─ "), child_lead + ("   " if last
                                                                                             else "│  ")))
    print("\n".join(lines))


def part_one(rows):
    print("part 1: f = (a·b + c)·tanh(a) on the sixty-line engine, drawn from the output back")
    args = (0.7, -1.3, 0.4)
    a, b, c = (TinyTensor(v) for v in args)
    u = a * b
    v = u + c
    w = a.tanh()
    f = v * w
    f.backward()
    draw(f, {id(t): n for n, t in (("f = v·w", f), ("v = u + c", v), ("u = a·b", u), ("w = tanh a", w),
                                   ("a", a), ("b", b), ("c", c))})
    def f_of(x):
        return (x[0] * x[1] + x[2]) * math.tanh(x[0])

    for k, (name, leaf) in enumerate(zip("abc", (a, b, c))):
        h = [1e-6 if i == k else 0.0 for i in range(3)]
        numeric = (f_of([x + d for x, d in zip(args, h)]) - f_of([x - d for x, d in zip(args, h)])) / 2e-6
        rows.append((f"tiny engine ∂f/∂{name} vs central diff", leaf.grad, numeric, 1e-8))
    print("  a is used twice (by u and by w): its grad is the sum of both paths, as in lesson 1.\n")


# --------------------------------------------------------------------------- part 2: what the real engine adds
def part_two():
    print("part 2: what hadamard_min/core/tensor.py adds to the sixty lines, and why")
    x = Tensor(numpy.linspace(-1, 1, 6), requires_grad=True)
    h = ops.relu(x * 3)
    y = (h * h).sum()
    parent = y.creator.inputs[0]
    slots = ", ".join(s for s in parent.__slots__ if s != "__weakref__")
    print(f"  nodes, not arrays: y's op reads a {type(parent).__name__} holding {slots}: no\n"
          f"    array. TinyTensor keeps every input array alive as long as the output lives; here an activation\n"
          f"    lives only while someone holds it, and each op saved just what its backward needs (ReLU: a\n"
          f"    {h.creator.inputs[0].shape} mask of dtype {h.creator.saved[0].dtype}, one byte per element).")
    alive = weakref.ref(h)
    del h
    print(f"    `del h` frees the activation although the graph still runs through it: {alive() is None}")
    y.backward()
    try:
        y.backward()
    except BackwardError as error:
        print(f"  the graph is freed by backward (retain_graph=True keeps it); a second walk says:\n    {error}")
    with no_grad():
        z = x * 2
    print(f"  no_grad(): inference records no graph: (x·2).creator = {z.creator}")
    for rule in ("gradient", "guided"):
        x.grad = None
        with relu_rule(rule):
            (ops.relu(x) * -1.0).sum().backward()
        print(f"  relu_rule({rule!r}): ∂(−Σ relu x)/∂x = {x.grad}")
    print("  and what every backward returns is checked: one gradient per input, each of its input's shape\n"
          "  (part 4 breaks an op to see it).\n")


# --------------------------------------------------------------------------- part 3: tensors and gradcheck
def scalar_expression(rows):
    a, b, c = (Tensor(v, requires_grad=True, dtype=numpy.float64) for v in (0.7, -1.3, 0.4))
    u, w = a * b, ops.tanh(a)
    v = u + c
    f = v * w
    names = {id(t.node): n for n, t in zip("abcuvwf", (a, b, c, u, v, w, f))}
    print("part 3: the real engine. f = (a·b + c)·tanh(a) again; its nodes in topological order:")
    print("  " + ", ".join(names[id(node)] for node in topological_order(f)) + " (backward walks them reversed)")
    f.backward()
    t = math.tanh(0.7)
    expected = {"a": -1.3 * t + (0.7 * -1.3 + 0.4) * (1 - t * t), "b": 0.7 * t, "c": t}
    for name, leaf in zip("abc", (a, b, c)):
        rows.append((f"engine ∂f/∂{name} vs lesson 1", leaf.grad, expected[name], 1e-12))


def tensor_ops(rng, rows):
    x, y = rng.normal(size=(3, 1)), rng.normal(size=(1, 4))
    xt, yt = Tensor(x, requires_grad=True), Tensor(y, requires_grad=True)
    (xt * yt).sum().backward()
    print("\nbroadcasting: x (3,1) ∘ y (1,4) → (3,4): x is reused along axis 1, so its gradient is a sum over it")
    rows.append(("broadcast ∂L/∂x vs Σ_j y_j", xt.grad, numpy.full((3, 1), y.sum()), 1e-12))
    print(gradcheck(ops.mul, x, y))
    A, B, U = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    At, Bt = Tensor(A, requires_grad=True), Tensor(B, requires_grad=True)
    (At @ Bt).backward(U)
    print("matmul C = A B with upstream gradient U: ∂L/∂A = U Bᵀ, ∂L/∂B = Aᵀ U")
    rows.append(("matmul ∂L/∂A vs U Bᵀ", At.grad, U @ B.T, 1e-12))
    rows.append(("matmul ∂L/∂B vs Aᵀ U", Bt.grad, A.T @ U, 1e-12))
    print(gradcheck(ops.matmul, A, B))
    logits, targets = rng.normal(size=(4, 3)) * 2, numpy.array([0, 2, 1, 2])
    z = Tensor(logits, requires_grad=True)
    ops.cross_entropy(z, targets).backward()
    p = numpy.exp(logits) / numpy.exp(logits).sum(1, keepdims=True)
    print("cross-entropy: ∂L/∂z = (softmax − onehot)/N")
    rows.append(("cross-entropy ∂L/∂z", z.grad, (p - numpy.eye(3)[targets]) / 4, 1e-12))
    print(gradcheck(lambda v: ops.cross_entropy(v, targets), logits))


class LazySoftmax(Softmax):
    """Softmax with a backward that returns zeros: wrong for every dy but one."""

    def backward(self, dy):
        return (numpy.zeros_like(dy),)


def random_cotangent(rng, rows):
    print("\nwhy gradcheck weights the output by a random cotangent u (L = Σ f(x) ∘ u), not by ones:")
    _lesson.predict("a softmax whose backward returns zeros; does a check with u = 1 catch it?")
    x = rng.normal(size=(2, 3))
    def ones_loss(v):
        return ops.softmax(Tensor(v)).data.sum()

    numeric = max(abs((ones_loss(x + 1e-6 * e) - ones_loss(x - 1e-6 * e)) / 2e-6)
                  for e in numpy.eye(6).reshape(6, 2, 3))
    print(f"  with u = 1: central differences give zero (at most {numeric:.0e}) everywhere, since Σ softmax = 1\n"
          f"  whatever x is: exactly what the lazy backward returns, so it passes.")
    report = gradcheck(lambda v: LazySoftmax.apply(v, axis=-1), x, raise_on_failure=False)
    print(f"  with a random u it fails:\n{report}")
    rows.append(("lazy softmax caught by a random u", not report.passed, True, None))


# --------------------------------------------------------------------------- part 4: a new op
class Softplus(Function):
    """y = log(1 + eˣ), a smooth ReLU;  dx = dy · sigmoid(x)."""

    def forward(self, x):
        self.save(x)
        return numpy.logaddexp(0, x)

    def backward(self, dy):
        (x,) = self.saved
        return (dy / (1 + numpy.exp(-x)),)


class BareSoftplus(Softplus):
    def backward(self, dy):               # forgot the tuple
        return dy / (1 + numpy.exp(-self.saved[0]))


class WrongSoftplus(Softplus):
    def backward(self, dy):               # the derivative of eˣ, not of log(1 + eˣ)
        return (dy * numpy.exp(self.saved[0]),)


def new_op(rng, rows):
    print("\npart 4: a new op in ten lines (Softplus), checked, then broken on purpose")
    x = rng.normal(size=(3, 4))
    report = gradcheck(Softplus.apply, x)
    print(report)
    rows.append(("Softplus backward, worst error", report.checks[0].max_abs_error, 0.0, 1e-8))
    try:
        Softplus.apply(Tensor(x, requires_grad=True)).sum().backward()
        BareSoftplus.apply(Tensor(x, requires_grad=True)).sum().backward()
    except BackwardError as error:
        print(f"  a backward that returns the array instead of a tuple:\n    {error}")
    try:
        gradcheck(WrongSoftplus.apply, x)
    except GradcheckError as error:
        print(f"  a wrong derivative: the report gives the values at the worst element and the input there:\n"
              f"{error}")
    try:
        gradcheck(ops.relu, numpy.array([0.5, 0.0, -1.0]))
    except GradcheckError as error:
        print(f"  a right backward checked at a kink (ReLU at x = 0) fails too, and the report says why:\n{error}")


def main(argv=None):
    _lesson.parser(__doc__).parse_args(argv)  # no options: an unknown one is refused, not ignored
    _lesson.start(__doc__)
    rng = numpy.random.default_rng(0)
    rows = []
    part_one(rows)
    part_two()
    scalar_expression(rows)
    tensor_ops(rng, rows)
    random_cotangent(rng, rows)
    new_op(rng, rows)
    print(f"\n{'quantity':<38} {'max |difference|':>17}  allowed")
    for name, ours, reference, allowed in rows:
        if isinstance(ours, bool):   # a yes/no check, not a difference
            print(f"{name:<38} {'yes' if ours else 'no':>17}  must be {'yes' if reference else 'no'}")
            if ours != reference:
                raise SystemExit(f"unexpected result for {name!r}")
            continue
        error = float(numpy.abs(numpy.asarray(ours, dtype=float) - numpy.asarray(reference, dtype=float)).max())
        print(f"{name:<38} {error:17.3e}  {allowed:g}")
        if error > allowed:
            raise SystemExit(f"unexpected result for {name!r}: {error:.3e}")


if __name__ == "__main__":
    main()
