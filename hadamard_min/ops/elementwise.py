"""Elementwise ops with broadcasting. The Hadamard product of the paper is ``Mul``."""
from hadamard_min.core.backend import array_module
from hadamard_min.core.function import Function


def unbroadcast(grad, shape):
    """Sum ``grad`` back to ``shape``: the backward of NumPy broadcasting."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


class Add(Function):
    """y = a + b;  da = dy,  db = dy  (summed over broadcast axes)."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, dy):
        return unbroadcast(dy, self.shapes[0]), unbroadcast(dy, self.shapes[1])


class Sub(Function):
    """y = a - b;  da = dy,  db = -dy."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, dy):
        return unbroadcast(dy, self.shapes[0]), unbroadcast(-dy, self.shapes[1])


class Mul(Function):
    """The Hadamard product y = a ∘ b;  da = dy ∘ b,  db = dy ∘ a."""

    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, dy):
        a, b = self.saved
        da = unbroadcast(dy * b, a.shape) if self.needs_grad[0] else None
        db = unbroadcast(dy * a, b.shape) if self.needs_grad[1] else None
        return da, db


class Div(Function):
    """y = a / b;  da = dy / b,  db = -dy a / b²."""

    def forward(self, a, b):
        self.save(a, b)
        return a / b

    def backward(self, dy):
        a, b = self.saved
        da = unbroadcast(dy / b, a.shape) if self.needs_grad[0] else None
        db = unbroadcast(-dy * a / (b * b), b.shape) if self.needs_grad[1] else None
        return da, db


class Neg(Function):
    """y = -x;  dx = -dy."""

    def forward(self, x):
        return -x

    def backward(self, dy):
        return (-dy,)


class Power(Function):
    """y = x^p for a constant p;  dx = dy · p · x^(p-1)."""

    def forward(self, x):
        self.save(x)
        return x ** self.exponent

    def backward(self, dy):
        (x,) = self.saved
        return (dy * self.exponent * x ** (self.exponent - 1),)


class Exp(Function):
    """y = eˣ;  dx = dy · y."""

    def forward(self, x):
        y = array_module(x).exp(x)
        self.save(y)
        return y

    def backward(self, dy):
        return (dy * self.saved[0],)


class Log(Function):
    """y = ln x;  dx = dy / x."""

    def forward(self, x):
        self.save(x)
        return array_module(x).log(x)

    def backward(self, dy):
        return (dy / self.saved[0],)


class Tanh(Function):
    """y = tanh x (the σ of the paper);  dx = dy · (1 - y²)."""

    def forward(self, x):
        y = array_module(x).tanh(x)
        self.save(y)
        return y

    def backward(self, dy):
        y = self.saved[0]
        return (dy * (1 - y * y),)


class Sigmoid(Function):
    """y = 1 / (1 + e⁻ˣ);  dx = dy · y (1 - y)."""

    def forward(self, x):
        xp = array_module(x)
        y = 0.5 * (xp.tanh(0.5 * x) + 1)  # stable for large |x|
        self.save(y)
        return y

    def backward(self, dy):
        y = self.saved[0]
        return (dy * y * (1 - y),)
