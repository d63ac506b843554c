"""Grades exercise 1: the order (each value once, after its parents, values with equal numbers kept
apart), the gradients against central differences on numbers Hypothesis draws (repeats included), a
chain of 10,000 ops, and a value used twice 40 times over (each Value expanded once, not once per path)."""
import math
import sys

from grading import ExerciseFailure, cases, compare, load, running
from hypothesis import strategies as st

NUMBERS = st.sampled_from([-1.5, -0.5, 0.5, 0.7, 1.3])   # few values: equal numbers in different Values


def central(f, args, k, h=1e-6):
    plus, minus = list(args), list(args)
    plus[k] += h
    minus[k] -= h
    return (f(*plus) - f(*minus)) / (2 * h)


def lesson_one(a, b, c):
    """f = (a·b + c)·tanh(a): ``a`` is used twice."""
    return (a * b + c) * a.tanh() if hasattr(a, "tanh") else (a * b + c) * math.tanh(a)


def diamond(x, y):
    """g = u·exp(u) + y with u = x·y: u reaches g by two paths, y by three."""
    u = x * y
    return u * (u.exp() if hasattr(u, "exp") else math.exp(u)) + y


FUNCTIONS = [("f = (a·b + c)·tanh a", "abc", lesson_one), ("g = u·exp(u) + y, u = x·y", "xy", diamond)]


def grade(ex):
    check_order(ex)
    check_gradients(ex)
    check_depth(ex)
    check_shared(ex)


def check_order(ex):
    @cases(st.tuples(NUMBERS, NUMBERS), (0.5, 0.5))
    def check(numbers):
        x, y = ex.Value(numbers[0]), ex.Value(numbers[1])
        u = x * y
        root = u * u.tanh() + x
        with running(f"topological_order of u·tanh(u) + x, u = x·y, x = {x.data}, y = {y.data}"):
            order = ex.topological_order(root)
        check_is_an_order(order, root)
    check()


def check_is_an_order(order, root):
    if not isinstance(order, list):
        raise ExerciseFailure("topological_order returned " + ("None (a missing return?)" if order is None else
                                                               f"a {type(order).__name__}, not a list"))
    if len({id(v) for v in order}) != len(order):
        raise ExerciseFailure("topological_order: a value appears twice (each Value goes into the order once)")
    position = {id(v): i for i, v in enumerate(order)}
    for value in order:
        for parent in value.parents:
            if id(parent) not in position:
                twin = any(v.data == parent.data for v in order)
                raise ExerciseFailure(
                    f"topological_order: {parent!r}, a parent of {value!r}, is missing"
                    + ("; another Value in the order holds the same number: two Values with equal data are "
                       "still two different nodes (what does your visited set recognise them by?)" if twin else ""))
            if position[id(parent)] > position[id(value)]:
                raise ExerciseFailure(f"topological_order: {value!r} comes before its parent {parent!r} "
                                      f"(a value goes into the order only after all of its parents)")
    if not order or order[-1] is not root:
        raise ExerciseFailure("topological_order: the root must come last (it depends on everything)")


def check_gradients(ex):
    @cases(st.tuples(NUMBERS, NUMBERS, NUMBERS), (0.7, -1.3, 0.4), (0.5, 0.5, 0.5))
    def check(numbers):
        for name, variables, f in FUNCTIONS:
            args = numbers[:len(variables)]
            values = [ex.Value(v) for v in args]
            with running(f"Value.backward of {name} at {args}"):
                f(*values).backward()
            for k, value in enumerate(values):
                compare(f"∂{name[0]}/∂{variables[k]} of {name} at {', '.join(map(str, args))}", value.grad,
                        central(f, args, k), rtol=1e-6,
                        hint="ex01 backward")
    check()


def check_depth(ex):
    x = ex.Value(0.5)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        y.backward()
    except RecursionError:
        raise ExerciseFailure("a chain of 10,000 ops overflowed the stack: topological_order (or backward) is "
                              "recursive; use a list as an explicit stack") from None
    finally:
        sys.setrecursionlimit(limit)
    compare("∂y/∂x on a chain of 10,000 ops", x.grad, 1.0001 ** 10_000, rtol=1e-9)


def test_exercise_01():
    grade(load("ex01_scalar_engine"))


class TooManyReads(BaseException):
    """Raised inside a walk that reads the parents of the Values far more often than there are Values (a
    BaseException: neither the walk's own ``except Exception`` nor ``running`` takes it for the walk's error)."""


class Parents(tuple):
    """A Value's parents, counting each read (iterated or indexed) against a budget shared by the graph."""

    def __new__(cls, parents, budget):
        self = super().__new__(cls, parents)
        self.budget = budget
        return self

    def _read(self):
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise TooManyReads

    def __iter__(self):
        self._read()
        return super().__iter__()

    def __getitem__(self, k):
        self._read()
        return super().__getitem__(k)


def check_shared(ex, doublings=40, reads=8):
    """y = x + x, doubled 40 times: every Value is used twice, so a walk that expands a Value once per path to
    it (no visited set, its duplicates dropped afterwards) takes 2⁴⁰ steps. The walk may read each Value's
    parents ``reads`` times; past that it is stopped and named."""
    x = ex.Value(0.5)
    values = [x]
    for _ in range(doublings):
        values.append(values[-1] + values[-1])
    y, parents = values[-1], [v.parents for v in values]
    case = f"y = x + x, doubled {doublings} times ({len(values)} Values, each used twice)"
    for what, walk in (("topological_order", lambda: ex.topological_order(y)), ("Value.backward", y.backward)):
        budget = [reads * len(values)]
        for value, own in zip(values, parents):
            value.parents = Parents(own, budget)
        try:
            with running(f"{what} of {case}"):
                walk()
        except TooManyReads:
            raise ExerciseFailure(
                f"{what} of {case}: your walk read the Values' parents more than {reads} times per Value: it "
                f"expands a Value each time it reaches it, once per path, which here is 2^{doublings} times "
                "(every residual block shares values like this): expand each Value once") from None
        finally:
            for value, own in zip(values, parents):
                value.parents = own
    compare(f"∂y/∂x of {case}", x.grad, 2.0 ** doublings, rtol=1e-9)
