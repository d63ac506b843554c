"""Exercise 2: the backward of broadcasting, in Add and in Mul (the Hadamard product).

NumPy broadcasts a (3, 1) array against a (1, 4) one to (3, 4): the (3, 1) input is *reused* along axis 1,
so, as in lesson 01, its gradient adds up every use: it is dy summed over the axes that were broadcast.

``unbroadcast(grad, shape)`` turns a gradient of the broadcast shape back into one of ``shape``:
  1. sum over the leading axes that ``shape`` does not have ((2, 3, 4) → (4,): sum over axes 0 and 1);
  2. sum, keeping the axis, over every axis where ``shape`` has 1 and ``grad`` does not.

Add and Mul below are complete and call it. A gradient of the wrong shape is stopped by the engine with
a ``GradientShapeError`` that names the op, the input and both shapes.

Check:  python -m pytest lessons/exercises/test_ex02_unbroadcast.py
"""
from hadamard_min.core.function import Function


def unbroadcast(grad, shape):
    """Sum ``grad`` back to ``shape``: the backward of NumPy broadcasting."""
    raise NotImplementedError("exercise 2: unbroadcast — sum over the leading extra axes, then (keepdims) "
                              "over the axes where shape has 1")


class Add(Function):
    """y = a + b;  da = dy,  db = dy, each summed back to its input's shape."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, dy):
        return unbroadcast(dy, self.shapes[0]), unbroadcast(dy, self.shapes[1])


class Mul(Function):
    """y = a ∘ b;  da = dy ∘ b,  db = dy ∘ a, each summed back to its input's shape."""

    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, dy):
        a, b = self.saved
        return unbroadcast(dy * b, a.shape), unbroadcast(dy * a, b.shape)
