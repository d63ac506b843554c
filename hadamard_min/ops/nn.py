"""Neural-network ops: batch norm, softmax, log-softmax, cross-entropy, dropout."""
from hadamard_min.core.backend import array_module
from hadamard_min.core.function import Function


class BatchNorm(Function):
    """y = γ (x − μ) / √(σ² + ε) + β over every axis but 1 (channels).

    inference: μ, σ² are the running statistics, so y is affine:  dx = dy γ / √(σ² + ε).
    training:  μ, σ² are the batch's (and the running ones move by ``momentum``);
               with x̂ = (x − μ)/√(σ² + ε) and g = dy γ:  dx = (g − mean(g) − x̂ mean(g x̂)) / √(σ² + ε).
    dγ = Σ dy x̂,  dβ = Σ dy.
    """

    def forward(self, x, gamma, beta):
        xp = array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            count = x.size // x.shape[1]
            m = self.momentum
            self.running_mean *= 1 - m
            self.running_mean += m * mean
            self.running_var *= 1 - m
            self.running_var += m * var * (count / max(count - 1, 1))  # unbiased, as PyTorch
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = (1 / xp.sqrt(var + self.eps)).astype(x.dtype)
        self.axes, self.shape = axes, shape
        if not (self.training or self.needs_grad[1]):  # affine: y = x s + (β − μ s), s = γ / √(σ² + ε)
            scale = gamma * inv_std
            self.save(None, gamma, inv_std)
            y = x * scale.reshape(shape)
            y += (beta - mean * scale).astype(x.dtype).reshape(shape)
            return y
        xhat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
        self.save(xhat, gamma, inv_std)
        return xhat * gamma.reshape(shape) + beta.reshape(shape)

    def backward(self, dy):
        xhat, gamma, inv_std = self.saved
        axes, shape = self.axes, self.shape
        if not self.training:
            dx = dy * (gamma * inv_std).reshape(shape)
        else:
            g = dy * gamma.reshape(shape)
            dx = (g - g.mean(axis=axes, keepdims=True)
                  - xhat * (g * xhat).mean(axis=axes, keepdims=True)) * inv_std.reshape(shape)
        dgamma = (dy * xhat).sum(axis=axes) if self.needs_grad[1] else None
        dbeta = dy.sum(axis=axes) if self.needs_grad[2] else None
        return dx, dgamma, dbeta


def softmax(x, axis):
    """eˣ / Σ eˣ along ``axis`` of an array, computed as e^(x − max x) so that nothing overflows."""
    e = array_module(x).exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis):
    """x − log Σ eˣ along ``axis`` of an array, from x − max x so that nothing overflows."""
    xp = array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """y = eˣ / Σ eˣ along an axis;  dx = y ∘ (dy − Σ dy ∘ y)."""

    def forward(self, x):
        y = softmax(x, self.axis)
        self.save(y)
        return y

    def backward(self, dy):
        (y,) = self.saved
        return (y * (dy - (dy * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """y = x − log Σ eˣ along an axis;  dx = dy − eʸ Σ dy."""

    def forward(self, x):
        y = log_softmax(x, self.axis)
        self.save(y)
        return y

    def backward(self, dy):
        (y,) = self.saved
        xp = array_module(y)
        return (dy - xp.exp(y) * dy.sum(axis=self.axis, keepdims=True),)


class CrossEntropy(Function):
    """L = −(1/N) Σₙ log softmax(xₙ)[tₙ] for logits x (N, K), integer targets t;
    dx = (softmax(x) − onehot(t)) / N · dL."""

    def forward(self, logits):
        log_p = log_softmax(logits, 1)
        rows = array_module(logits).arange(len(logits))
        self.save(log_p, rows)
        return -log_p[rows, self.targets].mean()

    def backward(self, dy):
        log_p, rows = self.saved
        dx = array_module(log_p).exp(log_p)
        dx[rows, self.targets] -= 1
        return (dx * (dy / len(log_p)),)


class Dropout(Function):
    """Training: y = x ∘ m / (1 − p) with m ~ Bernoulli(1 − p);  dx = dy ∘ m / (1 − p)."""

    def forward(self, x):
        xp = array_module(x)
        keep = (xp.random.random_sample(x.shape) >= self.p).astype(x.dtype) / (1 - self.p)
        self.save(keep)
        return x * keep

    def backward(self, dy):
        return (dy * self.saved[0],)
