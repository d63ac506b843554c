"""Exercise 4: the backward of the matrix product, the workhorse of every layer.

y = a @ b with a (…, n, k) and b (…, k, m), batched over the leading axes (which broadcast like NumPy's).
For L with ∂L/∂y = dy:

    ∂L/∂a = dy @ bᵀ        ∂L/∂b = aᵀ @ dy          (ᵀ swaps the last two axes: ``x.swapaxes(-1, -2)``)

Check the shapes: dy is (n, m), bᵀ is (m, k), so dy @ bᵀ is (n, k), the shape of a. When the batch axes
were broadcast (a (2, n, k) times b (k, m)), sum back with ``unbroadcast`` (exercise 2, given here).

Check:  python -m pytest lessons/exercises/test_ex04_matmul.py
"""
from hadamard_min.core.function import Function
from hadamard_min.ops.elementwise import unbroadcast  # noqa: F401  (you will need it)


class MatMul(Function):
    """y = a @ b;  da = dy bᵀ,  db = aᵀ dy (summed back over broadcast batch axes)."""

    def forward(self, a, b):
        self.save(a, b)
        return a @ b

    def backward(self, dy):
        raise NotImplementedError("exercise 4: MatMul.backward — (unbroadcast(dy @ bᵀ, a.shape), "
                                  "unbroadcast(aᵀ @ dy, b.shape)) with ᵀ = .swapaxes(-1, -2)")
