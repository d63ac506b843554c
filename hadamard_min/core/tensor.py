"""The reverse-mode engine's tensor: ``Tensor``, its graph ``Node`` and the backward walk.

Each op is a ``Function`` (``core/function.py``) whose ``backward`` gets dL/d(output) and returns
dL/d(input) for each input. ``Tensor.backward``
orders the graph topologically *without recursion* (ResNet-152 is hundreds of ops deep), walks it
from the output back, and accumulates every gradient with ``+=`` (a tensor used twice, as in a
residual connection, receives the sum of both contributions). What a backward returns is checked on
the way: one gradient (or None) per input, an array (not a Tensor) of its input's shape; a mistake is
named by op and input (``GradientCountError``, ``GradientShapeError``) instead of surfacing later as a
wrong number or a NumPy broadcast error. Only lengths and shapes are compared, so the check costs nothing measurable.

The graph is made of ``Node``s, not of Tensors: a node knows the Function that made its tensor and
whether it wants a gradient, but holds no array. So an activation's array lives only as long as
someone holds its Tensor; what backward needs, each Function saved itself (a ReLU keeps a one-byte
mask, a frozen convolution nothing at all).
"""
import weakref

import numpy

from hadamard_min.core.backend import array_module, get_xp, to_numpy


class BackwardError(RuntimeError):
    """``backward`` was called where there is no graph to walk, or an op's backward returned the wrong thing."""


class GradientCountError(BackwardError):
    """An op's ``backward`` did not return one gradient (or None) per input, as a tuple."""


class GradientShapeError(BackwardError):
    """An op's ``backward`` returned a gradient whose shape is not the shape of its input, or whose dtype is
    integer, bool or a narrower float where the input's is floating point (a cast that rounds the gradient)."""


DEFAULT_DTYPE = numpy.float32


class Node:
    """A tensor's place in the graph: the Function that made it, whether it wants a gradient, and a weak
    link back to the Tensor (to store ``.grad`` on it if it is still held). It holds no array."""

    __slots__ = ("__weakref__", "creator", "float_dtype", "freed", "requires_grad", "shape", "tensor")

    def __init__(self, tensor, requires_grad):
        self.tensor = weakref.ref(tensor)
        self.shape = tensor.data.shape  # what a gradient for this tensor must look like
        self.float_dtype = tensor.data.dtype if tensor.data.dtype.kind == "f" else None  # its gradient's, or wider
        self.requires_grad = requires_grad
        self.creator = None
        self.freed = False  # set when backward has released the Function that made the tensor


class Tensor:
    """An array with an optional gradient and a node in the graph (the Function that made it)."""

    __array_priority__ = 1000  # so numpy_scalar * Tensor calls Tensor.__rmul__

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        xp = array_module(data) if hasattr(data, "dtype") else get_xp()
        if not hasattr(data, "dtype"):  # Python scalars and lists: default float32
            data = xp.asarray(data, dtype=dtype or DEFAULT_DTYPE)
        elif dtype is not None and data.dtype != dtype:
            data = data.astype(dtype)
        self.data = data
        self.grad = None
        self.node = Node(self, bool(requires_grad))
        self.keep_grad = False

    requires_grad = property(lambda self: self.node.requires_grad,
                             lambda self, flag: setattr(self.node, "requires_grad", bool(flag)))
    creator = property(lambda self: self.node.creator, lambda self, fn: setattr(self.node, "creator", fn))

    # --- basic properties -------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}{grad})"

    def numpy(self):
        """The data as a NumPy array (copied from the GPU when it lives there)."""
        return to_numpy(self.data)

    def item(self):
        return self.numpy().item()

    def detach(self):
        """The same data, cut off from the graph: gradients stop here."""
        return Tensor(self.data)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (the word vectors q, say)."""
        self.keep_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    # --- the backward walk --------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (``grad`` defaults to ones).

        The graph is freed on the way (a second ``backward`` through it raises ``BackwardError``)
        unless ``retain_graph=True``. Each ``.grad`` is an array of its own, safe to change in place.
        """
        if not self.requires_grad:
            raise BackwardError("backward() on a tensor that does not require grad: it was made under "
                                "no_grad(), from detached tensors, or from inputs without requires_grad=True")
        xp = array_module(self.data)
        if grad is None:
            grad = xp.ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise GradientShapeError(f"backward(grad): grad has shape {grad.shape}, the tensor has shape "
                                     f"{self.shape}")
        grads, owned = {id(self.node): grad}, set()  # owned: the sums made here, which nothing else holds
        for node in reversed(topological_order(self)):
            dy = grads.pop(id(node), None)
            owned.discard(id(node))
            if dy is None:
                continue
            if node.freed:
                raise BackwardError("backward() through a graph already freed by an earlier backward(): "
                                    "pass retain_graph=True to the earlier call to walk it twice")
            tensor = node.tensor()  # None when nobody holds the tensor any more: no .grad to keep
            if tensor is not None and (node.creator is None or tensor.keep_grad):
                # a copy: dy may be a read-only view or shared
                tensor.grad = dy.copy() if tensor.grad is None else tensor.grad + dy
            fn = node.creator
            if fn is None:
                continue
            for parent, dx in zip(fn.inputs, checked_gradients(fn, fn.backward(dy))):
                if dx is None or not parent.requires_grad:
                    continue
                if id(parent) in owned and dx.dtype == grads[id(parent)].dtype:  # fan-out: they add up,
                    grads[id(parent)] += dx                                    # in place in a sum of ours
                elif id(parent) in grads:  # a new array the first time: either part may alias another
                    grads[id(parent)] = grads[id(parent)] + dx
                    owned.add(id(parent))
                else:
                    grads[id(parent)] = dx
            if not retain_graph:  # free what backward saved as soon as it has been used
                fn.saved, fn.inputs, node.creator, node.freed = (), (), None, True

    # --- operators (the ops themselves live in hadamard_min.ops) ------------------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pow__(self, exponent):
        return ops.power(self, exponent)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.mean(self, axis, keepdims)

    def reshape(self, *shape):
        return ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape)

    def transpose(self, *axes):
        return ops.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], tuple) else axes or None)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)


def as_tensor(value, like=None):
    """Wrap arrays and scalars; a Python or NumPy scalar takes the dtype of ``like`` (no promotion)."""
    if isinstance(value, Tensor):
        return value
    if like is not None and (not hasattr(value, "shape") or isinstance(value, numpy.generic)):
        return Tensor(array_module(like.data).asarray(value, dtype=like.dtype))
    return Tensor(value)


def checked_gradients(fn, dxs):
    """``dxs``, the answer of ``fn.backward``, if it holds one gradient (or None) per input of its input's
    shape; otherwise a ``GradientCountError`` or ``GradientShapeError`` that names the op and the input.

    Entries past the inputs are allowed when they are None (the bias of an op called without one).
    """
    name, inputs = type(fn).__name__, fn.inputs
    if not isinstance(dxs, (tuple, list)):
        what = f"an array of shape {dxs.shape}" if hasattr(dxs, "shape") else f"a {type(dxs).__name__}"
        raise GradientCountError(f"{name}.backward returned {what}, not a tuple with one gradient per input "
                                 f"(for one input write `return (dx,)`)")
    if len(dxs) < len(inputs) or any(dx is not None for dx in dxs[len(inputs):]):
        raise GradientCountError(f"{name}.backward returned {_count(len(dxs), 'gradient')} for "
                                 f"{_count(len(inputs), 'input')}")
    for i, (node, dx) in enumerate(zip(inputs, dxs)):
        shape = getattr(dx, "shape", None)
        if dx is not None and (shape != node.shape or isinstance(dx, Tensor)):
            raise GradientShapeError(f"{name}.backward: gradient for input {i} "
                                     f"{_shape_mismatch(dx, shape, node.shape)}")
        wide = node.float_dtype
        if dx is not None and wide is not None and (dx.dtype.kind in "biu" or dx.dtype.itemsize < wide.itemsize):
            raise GradientShapeError(f"{name}.backward: gradient for input {i} has dtype {dx.dtype}, the input is "
                                     f"{_narrowed(dx.dtype, wide)}")
    return dxs


def _narrowed(dtype, wide):
    """Why a gradient of ``dtype`` rounds (float32 for float64 loses half the digits, as int loses the fraction)."""
    if dtype.kind == "b":
        return "floating point (a mask itself? multiply dy by it)"
    what, cast = ("floating point", "int") if dtype.kind in "iu" else (wide, f"numpy.{dtype}")
    return f"{what} (a cast such as astype({cast}) rounds the gradient: keep dy's dtype)"


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _shape_mismatch(dx, shape, expected):
    """'has shape (3, 4), the input has shape (4,)  (sum over broadcast axes?)' and the like."""
    if shape is None:
        return f"is a {type(dx).__name__}, not an array of the input's shape {expected}"
    if isinstance(dx, Tensor):   # an op's backward works on arrays, not on the graph
        return "is a Tensor, not an array (made by ops inside backward? compute on arrays, or return its .data)"
    hint = ""
    if len(shape) >= len(expected) and all(e in (1, s) for e, s in zip(expected[::-1], shape[::-1])):
        hint = "  (sum over broadcast axes?)"
    elif numpy.prod(shape) == numpy.prod(expected):
        hint = "  (reshape or transpose it back?)"
    return f"has shape {shape}, the input has shape {expected}{hint}"


def topological_order(root):
    """The nodes that the tensor ``root`` depends on, each after its inputs. Iterative post-order DFS."""
    order, visited = [], set()
    stack = [(root.node, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node.creator is not None:
            stack.extend((parent, False) for parent in node.creator.inputs
                         if parent.requires_grad and id(parent) not in visited)
    return order


from hadamard_min import ops  # noqa: E402
