"""The functional face of every op: plain functions that take Tensors (or scalars) and return Tensors.

Each op is one class (``forward`` and ``backward`` side by side) in the modules of this package;
these wrappers only turn Python scalars into arrays of the tensor's own dtype.
"""
from hadamard_min.core.tensor import Tensor, as_tensor
from hadamard_min.ops.conv import Conv2d, MaxPool2d, Pad2d
from hadamard_min.ops.elementwise import Add, Div, Exp, Log, Mul, Neg, Power, Sigmoid, Sub, Tanh
from hadamard_min.ops.linalg import Linear, MatMul
from hadamard_min.ops.nn import BatchNorm, CrossEntropy, Dropout, LogSoftmax, Softmax
from hadamard_min.ops.relu import ReLU, ReLU6
from hadamard_min.ops.shape import Concatenate, Embedding, GetItem, Mean, Reshape, Sum, Transpose


def _pair(a, b):
    like = a if isinstance(a, Tensor) else b
    return as_tensor(a, like), as_tensor(b, like)


def add(a, b):
    return Add.apply(*_pair(a, b))


def sub(a, b):
    return Sub.apply(*_pair(a, b))


def mul(a, b):
    """The elementwise (Hadamard) product a ∘ b."""
    return Mul.apply(*_pair(a, b))


def div(a, b):
    return Div.apply(*_pair(a, b))


def neg(x):
    return Neg.apply(x)


def power(x, exponent):
    return Power.apply(x, exponent=float(exponent))  # a Python float: no float64 promotion


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def relu6(x):
    """min(max(x, 0), 6), backward by the enclosing ``relu_rule`` block."""
    return ReLU6.apply(x)


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def reshape(x, shape):
    return Reshape.apply(x, shape=tuple(shape))


def transpose(x, axes=None):
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    """Stack equal-shaped tensors along a new axis (reshape each, then concatenate)."""
    shape = tensors[0].shape
    axis = axis % (len(shape) + 1)
    new = shape[:axis] + (1,) + shape[axis:]
    return concatenate([reshape(t, new) for t in tensors], axis=axis)


def getitem(x, index):
    return GetItem.apply(x, index=index)


def embedding(weight, ids):
    """Rows of ``weight`` picked by integer ``ids`` (any shape): the word lookup table."""
    return Embedding.apply(weight, ids=ids.data if isinstance(ids, Tensor) else ids)


def matmul(a, b):
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """x Wᵀ + b with W of shape (out, in)."""
    return Linear.apply(x, weight, bias) if bias is not None else Linear.apply(x, weight)


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    args = (x, weight, bias) if bias is not None else (x, weight)
    return Conv2d.apply(*args, stride=stride, padding=padding, groups=groups)


def zero_pad(x, top, bottom, left, right):
    """(N, C, H, W) → (N, C, top + H + bottom, left + W + right), the new rows and columns zero."""
    return Pad2d.apply(x, top=top, bottom=bottom, left=left, right=right)


def max_pool2d(x, kernel, stride=None, padding=0):
    return MaxPool2d.apply(x, kernel=kernel, stride=stride or kernel, padding=padding)


def global_avg_pool(x):
    """(N, C, H, W) → (N, C): the mean over the spatial grid."""
    return mean(x, axis=(2, 3))


def batch_norm(x, gamma, beta, running_mean, running_var, training=False, momentum=0.1, eps=1e-5):
    return BatchNorm.apply(x, gamma, beta, running_mean=running_mean, running_var=running_var,
                           training=training, momentum=momentum, eps=eps)


def softmax(x, axis=-1):
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(x, axis=axis)


def cross_entropy(logits, targets):
    """Mean negative log-likelihood of integer ``targets`` under softmax(``logits``)."""
    return CrossEntropy.apply(logits, targets=targets.data if isinstance(targets, Tensor) else targets)


def dropout(x, p=0.5, training=True):
    """Identity in evaluation (``training=False``) or when p = 0."""
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p)
