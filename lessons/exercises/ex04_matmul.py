"""Exercise 4: the backward of the matrix product, the workhorse of every layer.

y = a @ b with a (…, n, k) and b (…, k, m), batched over the leading axes, which broadcast like NumPy's:
a (2, 1, n, k) @ b (3, k, m) gives y (2, 3, n, m), and either side may lack batch axes or have 1s there.
Given dy = ∂L/∂y (the shape of y), return (∂L/∂a, ∂L/∂b), each of its input's shape.

Write each element of y as a sum over k, find which elements of a and b it touches, and turn that into two
matrix products; the shapes tell which factor goes on which side. For the batch axes, remember exercise 2
(``unbroadcast`` is given here). Every layer of the model (eq. 4-7's U, V, W, P) is such a product.

Check:  hadamard-exercises grade 4      (in the folder made by ``hadamard-exercises start DIR``)
"""
from hadamard_min.core.function import Function
from hadamard_min.ops.elementwise import unbroadcast  # noqa: F401  (you will need it)


class MatMul(Function):
    """y = a @ b, batched and broadcast over the leading axes."""

    def forward(self, a, b):
        self.save(a, b)
        return a @ b

    def backward(self, dy):
        raise NotImplementedError("exercise 4: write MatMul.backward: (∂L/∂a, ∂L/∂b) from dy and the saved a, b, each "
                                  "of its input's shape")
