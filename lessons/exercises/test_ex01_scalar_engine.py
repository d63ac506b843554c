"""Grades exercise 1: the scalar engine's gradients against central differences, its order, and depth."""
import math
import sys

from grading import ExerciseFailure, compare, load


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


FUNCTIONS = [("f = (a·b + c)·tanh a", "abc", lesson_one, (0.7, -1.3, 0.4)),
             ("g = u·exp(u) + y, u = x·y", "xy", diamond, (0.3, -0.8))]


def grade(ex):
    for name, variables, f, args in FUNCTIONS:
        values = [ex.Value(v) for v in args]
        f(*values).backward()
        for k, value in enumerate(values):
            compare(f"∂{name[0]}/∂{variables[k]} of {name}", value.grad, central(f, args, k),
                    hint="a value used twice adds (+=) both contributions, and reaches its parents only once "
                         "its own grad is complete (reversed topological order)", rtol=1e-6)
    check_order(ex)
    check_depth(ex)


def check_order(ex):
    x, y = ex.Value(0.5), ex.Value(-1.5)
    u = x * y
    root = u * u.tanh() + x
    order = ex.topological_order(root)
    if len({id(v) for v in order}) != len(order):
        raise ExerciseFailure("topological_order: a value appears twice (keep a set of visited values)")
    position = {id(v): i for i, v in enumerate(order)}
    for value in order:
        for parent in value.parents:
            if id(parent) not in position:
                raise ExerciseFailure(f"topological_order: {parent!r}, a parent of {value!r}, is missing")
            if position[id(parent)] > position[id(value)]:
                raise ExerciseFailure(f"topological_order: {value!r} comes before its parent {parent!r} "
                                      f"(a value goes into the order only after all of its parents)")
    if order[-1] is not root:
        raise ExerciseFailure("topological_order: the root must come last (it depends on everything)")


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
