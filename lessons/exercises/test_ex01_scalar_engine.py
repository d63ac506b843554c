"""Grades exercise 1: the order (each value once, after its parents, values with equal numbers kept
apart), the gradients against central differences on numbers Hypothesis draws (repeats included), and a
chain of 10,000 ops."""
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
