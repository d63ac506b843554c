"""``Function``: one op of the engine, and ``no_grad``.

A ``Function`` is one op. Its ``forward`` works on raw arrays and saves what ``backward`` needs;
its ``backward`` gets dL/d(output) and returns dL/d(input) for each input (``Tensor.backward`` in
``core/tensor.py`` calls it in reverse topological order).
"""
import contextlib
import threading

from hadamard_min.core.tensor import Tensor, as_tensor

_thread = threading.local()  # each thread's own switch: a no_grad block in one thread leaves the others


def grad_enabled():
    """Whether ops run now (in this thread) record the graph: True outside any ``no_grad`` block."""
    return getattr(_thread, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Inside this block ops record no graph: inference without the memory of backward (in this thread)."""
    previous, _thread.grad_enabled = grad_enabled(), False
    try:
        yield
    finally:
        _thread.grad_enabled = previous


class Function:
    """One op. Subclasses define ``forward(*arrays)`` and ``backward(dy)``.

    ``apply`` unwraps Tensors, runs ``forward``, and links the output to its inputs when any
    input needs a gradient. ``backward`` returns one gradient (or None) per input, in order.
    ``self.needs_grad[i]`` tells backward which inputs want one, so it can skip the rest.
    """

    def __init__(self, **params):
        self.__dict__.update(params)
        self.saved = ()

    def save(self, *values):
        """Keep what backward needs (the cheapest thing: a mask rather than an input, say)."""
        self.saved = values

    @classmethod
    def apply(cls, *inputs, **params):
        fn = cls(**params)
        tensors = [as_tensor(x) for x in inputs]
        fn.needs_grad = tuple(t.requires_grad for t in tensors)
        fn.record = grad_enabled() and any(fn.needs_grad)
        out = fn.forward(*(t.data for t in tensors))
        result = Tensor(out, requires_grad=fn.record)
        if fn.record:
            fn.inputs = [t.node for t in tensors]  # the graph keeps nodes, never the input arrays
            result.creator = fn
        return result

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError
