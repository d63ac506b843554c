"""Reductions and ops that move data around: sum, mean, reshape, transpose, concatenate,
slicing and the table lookup (embedding)."""
from hadamard_min.core.backend import array_module
from hadamard_min.core.function import Function


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))


def _expand(dy, shape, axes, keepdims):
    """Put back the reduced axes of ``dy`` so it broadcasts against ``shape``."""
    if not keepdims:
        for a in sorted(axes):
            dy = array_module(dy).expand_dims(dy, a)
    return dy


class Sum(Function):
    """y = Σ_axes x;  dx = dy broadcast back over the summed axes."""

    def forward(self, x):
        self.shape, self.axes_ = x.shape, _axes(self.axis, x.ndim)
        return x.sum(axis=self.axes_, keepdims=self.keepdims)

    def backward(self, dy):
        xp = array_module(dy)
        return (xp.broadcast_to(_expand(dy, self.shape, self.axes_, self.keepdims), self.shape),)


class Mean(Function):
    """y = (1/n) Σ_axes x;  dx = dy / n broadcast back."""

    def forward(self, x):
        self.shape, self.axes_ = x.shape, _axes(self.axis, x.ndim)
        self.count = 1
        for a in self.axes_:
            self.count *= x.shape[a]
        return x.mean(axis=self.axes_, keepdims=self.keepdims)

    def backward(self, dy):
        xp = array_module(dy)
        dy = _expand(dy, self.shape, self.axes_, self.keepdims) / self.count
        return (xp.broadcast_to(dy, self.shape).astype(dy.dtype),)


class Reshape(Function):
    """y = x viewed with a new shape;  dx = dy with the old one."""

    def forward(self, x):
        self.old_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, dy):
        return (dy.reshape(self.old_shape),)


class Transpose(Function):
    """y = x with axes permuted;  dx = dy with the inverse permutation."""

    def forward(self, x):
        self.axes_ = self.axes if self.axes is not None else tuple(reversed(range(x.ndim)))
        return x.transpose(self.axes_)

    def backward(self, dy):
        inverse = [0] * len(self.axes_)
        for i, a in enumerate(self.axes_):
            inverse[a] = i
        return (dy.transpose(inverse),)


class Concatenate(Function):
    """y = [x₁ | x₂ | …] along an axis;  dxᵢ = the matching slice of dy."""

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, dy):
        xp = array_module(dy)
        bounds = [sum(self.sizes[:i + 1]) for i in range(len(self.sizes) - 1)]
        return tuple(xp.split(dy, bounds, axis=self.axis))


def _is_basic(index):
    """True for ints and slices only (no arrays): then x[index] picks each element once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


class GetItem(Function):
    """y = x[index];  dx = zeros with dy added at index (``add.at``: repeated indices add up)."""

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, dy):
        xp = array_module(dy)
        dx = xp.zeros(self.shape, dtype=self.dtype)
        if _is_basic(self.index):
            dx[self.index] = dy
        else:
            xp.add.at(dx, self.index, dy)
        return (dx,)


class Embedding(Function):
    """The table lookup y[i] = W[ids[i]] (ids of any shape);  dW[k] = Σ_{i: ids[i]=k} dy[i].

    The backward uses ``add.at`` so a word that appears twice gets both gradients.
    """

    def forward(self, weight):
        self.shape = weight.shape
        return weight[self.ids]

    def backward(self, dy):
        xp = array_module(dy)
        dw = xp.zeros(self.shape, dtype=dy.dtype)
        xp.add.at(dw, self.ids, dy)
        return (dw,)
