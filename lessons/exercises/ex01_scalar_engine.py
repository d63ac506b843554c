"""Exercise 1: a reverse-mode engine on plain numbers, the size of micrograd.

A ``Value`` holds a number ``data``, its gradient ``grad`` (∂root/∂value, filled by ``backward``) and how it
was made: its ``parents`` and, for each parent, the local derivative ∂value/∂parent, which the op that made
it recorded (``local``). Lesson 01 walked such a graph by hand; here you write the walk.

1. ``topological_order(root)``: every Value that ``root`` depends on, each exactly once and after all of its
   parents. Without recursion: use an explicit stack (a chain of 10,000 ops must not overflow Python's
   stack; ResNet-152 is hundreds of ops deep).
2. ``Value.backward()``: root.grad = 1, then visit the order from the root back and, for each value and
   each of its parents, ``parent.grad += local · value.grad``. ``+=``: a value used twice adds up both
   contributions; the order makes sure a value's grad is complete before it is passed on.

Check:  python -m pytest lessons/exercises/test_ex01_scalar_engine.py
"""
import math


class Value:
    """A number in a graph: ``data``, ``grad``, ``parents`` and ``local[k]`` = ∂self/∂parents[k]."""

    def __init__(self, data, parents=(), local=()):
        self.data, self.grad = float(data), 0.0
        self.parents, self.local = tuple(parents), tuple(local)

    def __add__(self, other):
        other = as_value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = as_value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    __radd__, __rmul__ = __add__, __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-as_value(other))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def backward(self):
        """Fill ``grad`` of every value this one depends on with ∂self/∂value."""
        raise NotImplementedError("exercise 1: Value.backward — self.grad = 1, then for each value of "
                                  "reversed(topological_order(self)): parent.grad += local · value.grad")


def as_value(x):
    return x if isinstance(x, Value) else Value(x)


def topological_order(root):
    """Every Value ``root`` depends on (root included), each once and after its parents; no recursion."""
    raise NotImplementedError("exercise 1: topological_order — each Value once, after its parents, with an "
                              "explicit stack instead of recursion")
