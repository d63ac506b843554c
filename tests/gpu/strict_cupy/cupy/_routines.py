"""Module-level routines of CuPy, run by NumPy on the device arrays' data.

Only names CuPy 14 has are here; any other ``cupy.<name>`` is an AttributeError, as a NumPy-only function
is on a GPU. A name CuPy has but this file lacks is added here, once checked in CuPy's API reference.
"""
import numpy

from ._array import UFUNCS, check_dtype, fresh, ndarray, operand, unwrap, wrap

SCATTER_DTYPES = {  # the dtypes CuPy's ufunc.at takes (atomicAdd / atomicMax / atomicMin)
    "add": ("int32", "float16", "float32", "float64", "uint32", "uint64"),
    "maximum": ("int32", "float32", "float64", "uint32", "uint64"),
    "minimum": ("int32", "float32", "float64", "uint32", "uint64")}


class ufunc:
    """cupy.ufunc: device arrays and scalars in (a NumPy array is a TypeError), device arrays out."""

    def __init__(self, name):
        self._f, self.__name__ = getattr(numpy, name), name
        self.nin, self.nout, self.nargs = self._f.nin, self._f.nout, self._f.nargs

    def __call__(self, *args, out=None, dtype=None, casting="same_kind"):
        inputs, outs = [operand(a) for a in args[:self.nin]], args[self.nin:]
        outs = outs or (out if isinstance(out, tuple) else () if out is None else (out,))
        if not all(isinstance(o, ndarray) for o in outs):
            raise TypeError("Output arguments type must be cupy.ndarray")
        result = self._f(*inputs, out=tuple(o._a for o in outs) or None, dtype=dtype, casting=casting)
        return (outs[0] if len(outs) == 1 else tuple(outs)) if outs else wrap(result)

    def at(self, a, indices, b=None):
        """In place at ``indices``, repeated ones each counted (CuPy: atomics, so in no set order)."""
        if self.__name__ not in SCATTER_DTYPES:
            raise NotImplementedError(f"`{self.__name__}.at` is not supported yet")
        if not isinstance(a, ndarray):
            raise AttributeError(f"'{type(a).__name__}' object has no attribute '_scatter_op'")
        if a.dtype.name not in SCATTER_DTYPES[self.__name__]:
            raise TypeError(f"scatter_{self.__name__} supports only {', '.join(SCATTER_DTYPES[self.__name__])}")
        value = numpy.asarray(unwrap(b, host_ok=True)).astype(a.dtype, copy=False)
        self._f.at(a._a, unwrap(indices, host_ok=True), value)

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False):
        if self.__name__ not in ("add", "multiply"):
            raise NotImplementedError(f"`{self.__name__}.reduce` is not supported yet")
        if not isinstance(array, ndarray):
            raise TypeError(f"Unsupported type {type(array)}")
        return (array.sum if self.__name__ == "add" else array.prod)(axis, dtype, out, keepdims)

    def outer(self, a, b, **kwargs):
        a, b = asarray(a), asarray(b)  # CuPy copies host operands of outer over
        return self(a.reshape(a.shape + (1,) * b.ndim), b, **kwargs)


UFUNC_NAMES = [
    "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "negative", "positive", "power",
    "remainder", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "square",
    "tanh", "sinh", "cosh", "sin", "cos", "absolute", "fabs", "sign", "maximum", "minimum", "fmax", "fmin",
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "logical_and", "logical_or",
    "logical_not", "logical_xor", "isfinite", "isinf", "isnan", "floor", "ceil", "rint", "trunc",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert"]
FUNCTION_NAMES = [  # NumPy's functions of the same name and meaning; arguments must be on the device
    "zeros", "ones", "full", "eye", "identity", "arange", "linspace", "zeros_like", "ones_like", "full_like",
    "copy", "copyto", "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze",
    "broadcast_to", "broadcast_arrays", "atleast_1d", "atleast_2d", "concatenate", "stack", "hstack",
    "vstack", "split", "array_split", "tile", "repeat", "flip", "roll", "pad", "sum", "prod", "mean", "var",
    "std", "max", "min", "amax", "amin", "argmax", "argmin", "all", "any", "cumsum", "clip", "where", "dot",
    "matmul", "einsum", "kron", "outer", "tensordot", "take_along_axis", "nonzero", "argsort", "sort",
    "count_nonzero", "isclose", "allclose", "array_equal", "unique", "diff", "around", "round"]
def _function(name):
    function = getattr(numpy, name)

    def call(*args, **kwargs):
        if kwargs.get("dtype") is not None:
            check_dtype(kwargs["dtype"])
        return wrap(function(*unwrap(args), **unwrap(kwargs)))
    call.__name__ = call.__qualname__ = name
    return call


def empty(shape, dtype=float, order="C"):
    return ndarray._of(fresh(numpy.empty(shape, check_dtype(dtype), order)))


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    if not isinstance(prototype, ndarray):
        raise TypeError(f"Unsupported type {type(prototype)}")
    return ndarray._of(fresh(numpy.empty_like(prototype._a, dtype, order, shape=shape)))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """A device array from ``obj``: a host array, a list or a scalar is copied over (the explicit upload)."""
    if isinstance(obj, ndarray) and not copy and dtype in (None, obj.dtype) and obj.ndim >= ndmin:
        return obj
    data = numpy.array(unwrap(obj, host_ok=True), dtype=dtype, copy=True, order=order, ndmin=ndmin)
    check_dtype(data.dtype)
    return ndarray._of(data)


def asarray(a, dtype=None, order=None, *, blocking=False):
    if isinstance(a, ndarray) and dtype in (None, a.dtype) and order in (None, "K", "A"):
        return a
    return array(a, dtype, copy=True, order=order or "K")


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        raise TypeError(f"Argument 'a' has incorrect type (expected cupy.ndarray, got {type(a).__name__})")
    if a.flags.c_contiguous and dtype in (None, a.dtype):
        return a
    return ndarray._of(numpy.array(a._a, dtype=dtype, order="C", copy=True))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """The explicit download: a NumPy copy of a device array (other objects through ``numpy.asarray``)."""
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out)
    return numpy.asarray(a, order=order)


def get_array_module(*args):
    import cupy
    return cupy if any(isinstance(a, ndarray) for a in args) else numpy


def take(a, indices, axis=None, out=None):
    if not isinstance(a, ndarray):
        raise TypeError(f"Unsupported type {type(a)}")
    return a.take(indices, axis, out)


def packbits(a, axis=None, bitorder="big"):
    """CuPy's: the flattened array only (its ``axis`` option is not supported), integers or booleans in."""
    if not isinstance(a, ndarray):
        raise TypeError(f"Unsupported type {type(a)}")
    if a.dtype.kind not in "biu":
        raise TypeError("Expected an input array of integer or boolean data type")
    if axis is not None:
        raise NotImplementedError("axis option is not supported yet")
    return wrap(numpy.packbits(a._a, bitorder=bitorder))


def unpackbits(a, axis=None, bitorder="big"):
    """CuPy's: the flattened array only (no ``axis``, no ``count``), uint8 in, uint8 out."""
    if not isinstance(a, ndarray):
        raise TypeError(f"Unsupported type {type(a)}")
    if a.dtype != numpy.uint8:
        raise TypeError("Expected an input array of unsigned byte data type")
    if axis is not None:
        raise NotImplementedError("axis option is not supported yet")
    return wrap(numpy.unpackbits(a._a, bitorder=bitorder))


def result_type(*arrays_and_dtypes):
    return numpy.result_type(*[a.dtype if isinstance(a, ndarray) else a for a in arrays_and_dtypes])


UFUNCS.update({name: ufunc(name) for name in UFUNC_NAMES})
UFUNCS["abs"] = UFUNCS["absolute"]
FUNCTIONS = {name: _function(name) for name in FUNCTION_NAMES}
UFUNCS["matmul"] = FUNCTIONS["matmul"]  # a gufunc in both libraries: called as a function
ROUTINES = {**UFUNCS, **FUNCTIONS, "empty": empty, "empty_like": empty_like, "array": array,
            "asarray": asarray, "asanyarray": asarray, "ascontiguousarray": ascontiguousarray,
            "asnumpy": asnumpy, "get_array_module": get_array_module, "take": take, "result_type": result_type,
            "packbits": packbits, "unpackbits": unpackbits}
