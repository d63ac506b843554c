"""Matrix products: ``a @ b`` and the affine layer ``x Wᵀ + b``."""
from hadamard_min.core.function import Function
from hadamard_min.ops.elementwise import unbroadcast


class MatMul(Function):
    """y = a @ b (batched over leading axes, both at least 2-D);  da = dy bᵀ,  db = aᵀ dy."""

    def forward(self, a, b):
        self.save(a, b)
        return a @ b

    def backward(self, dy):
        a, b = self.saved
        da = unbroadcast(dy @ b.swapaxes(-1, -2), a.shape) if self.needs_grad[0] else None
        db = unbroadcast(a.swapaxes(-1, -2) @ dy, b.shape) if self.needs_grad[1] else None
        return da, db


class Linear(Function):
    """y = x Wᵀ + b, einsum '...i,oi->...o';  dx = dy W,  dW = dyᵀ x,  db = Σ dy.

    x has any number of leading axes; W is (out, in) as in PyTorch.
    """

    def forward(self, x, weight, bias=None):
        self.save(x, weight)
        y = x @ weight.T
        return y + bias if bias is not None else y

    def backward(self, dy):
        x, weight = self.saved
        dx = dy @ weight if self.needs_grad[0] else None
        flat_dy = dy.reshape(-1, dy.shape[-1])
        dw = flat_dy.T @ x.reshape(-1, x.shape[-1]) if self.needs_grad[1] else None
        db = flat_dy.sum(axis=0) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return dx, dw, db
