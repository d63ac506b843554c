"""Exercise 3: the backward of tanh (the σ of eq. 4-6) and of softmax (the attention α of eq. 4).

Each op is a class: ``forward`` works on arrays and saves what ``backward`` needs; ``backward`` gets
dy = ∂L/∂y (the shape of y) and returns a tuple with ∂L/∂x (the shape of x).

  Tanh:     y = tanh x, elementwise, any shape. Use the saved output y: no second tanh.
  Softmax:  y = exp(x) / (the sum of exp(x) along ``self.axis``), any shape, any axis (negative too).
            Every output along the axis depends on every input along it: work out ∂y_i/∂x_j first
            (two cases, i = j and i ≠ j), then what L's gradient becomes, without building the Jacobian.

Lesson 02 derives gradients like these and checks them by central differences; the grader does the same.

Check:  hadamard-exercises grade 3      (in the folder made by ``hadamard-exercises start DIR``)
"""
import numpy

from hadamard_min.core.function import Function


class Tanh(Function):
    """y = tanh x."""

    def forward(self, x):
        y = numpy.tanh(x)
        self.save(y)
        return y

    def backward(self, dy):
        raise NotImplementedError("exercise 3: write Tanh.backward: the tuple (∂L/∂x,) from dy and the saved output y")


class Softmax(Function):
    """y = exp(x), normalised to sum to 1 along ``self.axis``."""

    def forward(self, x):
        e = numpy.exp(x - x.max(axis=self.axis, keepdims=True))
        y = e / e.sum(axis=self.axis, keepdims=True)
        self.save(y)
        return y

    def backward(self, dy):
        raise NotImplementedError("exercise 3: write Softmax.backward: the tuple (∂L/∂x,) from dy and the saved output "
                                  "y, along self.axis")
