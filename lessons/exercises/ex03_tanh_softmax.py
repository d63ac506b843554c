"""Exercise 3: the backward of tanh (the σ of the paper) and of softmax (the attention α of eq. 4).

Each op is a class: ``forward`` works on arrays and saves what ``backward`` needs; ``backward`` gets
dy = ∂L/∂y and returns a tuple with ∂L/∂x.

  tanh:     y = tanh x                        dx = dy · (1 − y²)          (y is saved: no second tanh)
  softmax:  y = eˣ / Σ eˣ along ``axis``        dx = y ∘ (dy − Σ_axis dy ∘ y)   (keepdims, so it broadcasts)

The softmax rule is the Jacobian diag(y) − y yᵀ applied to dy without ever building it.

Check:  python -m pytest lessons/exercises/test_ex03_tanh_softmax.py
"""
import numpy

from hadamard_min.core.function import Function


class Tanh(Function):
    """y = tanh x;  dx = dy · (1 − y²)."""

    def forward(self, x):
        y = numpy.tanh(x)
        self.save(y)
        return y

    def backward(self, dy):
        raise NotImplementedError("exercise 3: Tanh.backward — (dy · (1 − y²),) with y = self.saved[0]")


class Softmax(Function):
    """y = eˣ / Σ eˣ along ``self.axis``;  dx = y ∘ (dy − Σ_axis dy ∘ y)."""

    def forward(self, x):
        e = numpy.exp(x - x.max(axis=self.axis, keepdims=True))
        y = e / e.sum(axis=self.axis, keepdims=True)
        self.save(y)
        return y

    def backward(self, dy):
        raise NotImplementedError("exercise 3: Softmax.backward — (y ∘ (dy − Σ_axis dy ∘ y),), the sum with "
                                  "keepdims=True")
