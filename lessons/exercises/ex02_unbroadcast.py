"""Exercise 2: the backward of broadcasting, in Add and in Mul (the Hadamard product).

NumPy broadcasts a (3, 1) array against a (1, 4) one to (3, 4), and a (4,) array against a (2, 3, 4) one
to (2, 3, 4): the smaller input is *reused*, along the axes it has as 1 and along the leading axes it
lacks. Lesson 02 showed what reuse means for a gradient (lesson 01 saw it for a number used twice).

``unbroadcast(grad, shape)``: ``grad`` has the broadcast shape (the output's); return the gradient of the
input of shape ``shape``. Either input of Add or Mul (eq. 6's Q ∘ V) may be the broadcast one, over one
axis or several.

Add and Mul below are complete and call it. A gradient of the wrong shape is stopped by the engine with
a ``GradientShapeError`` that names the op, the input and both shapes.

Check:  hadamard-exercises grade 2      (in the folder made by ``hadamard-exercises start DIR``)
"""
from hadamard_min.core.function import Function


def unbroadcast(grad, shape):
    """``grad`` (the broadcast shape) brought back to ``shape``: the backward of NumPy broadcasting."""
    raise NotImplementedError("exercise 2: write unbroadcast: the gradient of the input of shape `shape` from `grad`, "
                              "the gradient of the broadcast output")


class Add(Function):
    """y = a + b."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, dy):
        return unbroadcast(dy, self.shapes[0]), unbroadcast(dy, self.shapes[1])


class Mul(Function):
    """y = a ∘ b, the Hadamard product."""

    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, dy):
        a, b = self.saved
        return unbroadcast(dy * b, a.shape), unbroadcast(dy * a, b.shape)
