"""Exercise 1: a reverse-mode engine on plain numbers, the size of micrograd.

A ``Value`` holds a number ``data``, its gradient ``grad`` (∂root/∂value, filled by ``backward``) and how it
was made: its ``parents`` and, for each parent, the local derivative ∂value/∂parent, which the op that made
it recorded (``local``). Lesson 01 walked such a graph by hand; here you write the walk.

1. ``topological_order(root)`` → a list: every Value that ``root`` depends on (``root`` included), each
   exactly once, each after all of its parents. Two different Values may hold the same number. A chain of
   10,000 ops must not overflow Python's stack (ResNet-152 is hundreds of ops deep).
2. ``Value.backward()``: fill ``grad`` of every Value the root depends on with ∂root/∂value, the way
   lesson 01 did by hand (the chain rule, which every gradient of the paper from eq. 1 on is made of).
   Ask yourself: what happens to a value used twice, and in which order must the values be visited so
   that a grad is complete before it is passed on?

Check:  hadamard-exercises grade 1      (in a copy made by ``hadamard-exercises start DIR``)
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
        raise NotImplementedError("exercise 1: write Value.backward: the grad of every value this one depends on, "
                                  "from this one's")


def as_value(x):
    return x if isinstance(x, Value) else Value(x)


def topological_order(root):
    """Every Value ``root`` depends on (root included), each once and after its parents; no recursion."""
    raise NotImplementedError("exercise 1: write topological_order: every Value root depends on, each once and "
                              "after its parents")
