"""The device array: a NumPy array behind a wall that only ``asarray``/``get``/``asnumpy`` cross.

What is strict here, as in CuPy: ``numpy.asarray(device)`` raises TypeError; a NumPy array given to an
operator or a ufunc next to a device array raises TypeError; ``device[...] = host`` raises ValueError
unless the index is an array index (CuPy then copies it); reductions and integer indexing give 0-d
arrays, not scalars; ``flags`` has no ``writeable``; methods are those CuPy's ndarray has. Uploads and
downloads copy, so host and device never share memory, and fresh ``empty`` memory holds NaN (integers
0xA5 bytes), as stale device memory would.
"""
import operator
import weakref

import numpy

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly.")
SCALARS = (bool, int, float, complex, numpy.generic)
UFUNCS = {}  # name → this package's ufunc, filled by _routines (for NumPy's __array_ufunc__ protocol)
METHODS = {  # those of cupy.ndarray that are NumPy's too, run by NumPy here
    "all", "any", "argmax", "argmin", "argpartition", "argsort", "astype", "choose", "clip", "compress",
    "conj", "conjugate", "copy", "cumprod", "cumsum", "diagonal", "dot", "flatten", "max", "mean", "min",
    "nonzero", "partition", "prod", "ravel", "repeat", "reshape", "round", "searchsorted", "sort",
    "squeeze", "std", "sum", "swapaxes", "take", "tobytes", "tolist", "trace", "transpose", "var", "view"}
HOST_INDEX_METHODS = {"take", "put", "choose", "compress"}  # CuPy copies NumPy index arguments over


class Pool:
    """Bytes of the live device arrays that own their memory (CuPy's pool is not modelled otherwise)."""
    used = 0


SUPPORTED = {numpy.dtype(name) for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                            "uint64", "float16", "float32", "float64", "complex64", "complex128")}


def check_dtype(dtype):
    dtype = numpy.dtype(dtype)
    if dtype not in SUPPORTED:
        raise ValueError(f"Unsupported dtype {dtype}")
    return dtype


def _release(nbytes):
    Pool.used -= nbytes


def wrap(value):
    """NumPy results as device arrays: arrays and scalars (0-d); tuples and lists element-wise."""
    if isinstance(value, numpy.ndarray):
        return ndarray._of(value) if value.dtype in SUPPORTED else check_dtype(value.dtype)
    if isinstance(value, numpy.generic):
        return ndarray._of(numpy.asarray(value))
    if isinstance(value, tuple | list):
        return type(value)(wrap(v) for v in value)
    return value


def unwrap(value, host_ok=False):
    """The NumPy data behind device arrays (in tuples and lists too); a NumPy array is a TypeError."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, numpy.ndarray) and not host_ok:
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, tuple | list):
        return type(value)(unwrap(v, host_ok) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v, host_ok) for k, v in value.items()}
    return value


def operand(value):
    """An operand of a ufunc or operator: a device array or a scalar (CuPy's rule)."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, SCALARS):
        return value
    raise TypeError(f"Unsupported type {type(value)}")


def is_array_index(key):
    """True when ``key`` holds an array or a list (advanced indexing), not only ints, slices, None, ..."""
    parts = key if isinstance(key, tuple) else (key,)
    return any(not (p is None or p is Ellipsis or isinstance(p, slice | int | numpy.integer))
               or isinstance(p, bool | numpy.bool_) for p in parts)


class Flags:
    def __init__(self, a):
        self.c_contiguous, self.f_contiguous = a.flags.c_contiguous, a.flags.f_contiguous
        self.owndata = a.base is None
        self.fnc, self.forc = self.f_contiguous and not self.c_contiguous, self.f_contiguous or self.c_contiguous

    def __getitem__(self, name):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]


class MemoryPointer:
    def __init__(self, a):
        self.ptr = a.ctypes.data


def _binary(function, reflected=False):
    def method(self, other):
        other = operand(other)
        return wrap(function(other, self._a) if reflected else function(self._a, other))
    return method


def _unary(function):
    def method(self):
        return wrap(function(self._a))
    return method


def _in_place(function):
    def method(self, other):
        function(self._a, operand(other))
        return self
    return method


class ndarray:
    """cupy.ndarray, its data a NumPy array ``_a`` that no NumPy function is allowed to see."""
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the strict CuPy stand-in does not model memory pointers")
        self._a = fresh(numpy.empty(shape, check_dtype(dtype), order=order))
        self._count()

    @classmethod
    def _of(cls, a):
        self = cls.__new__(cls)
        self._a = a
        if a.base is None:
            self._count()
        return self

    def _count(self):
        Pool.used += self._a.nbytes
        weakref.finalize(self, _release, self._a.nbytes)

    # ---------------------------------------------------------------- no implicit way out
    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        mine = UFUNCS.get(ufunc.__name__)
        if mine is None or (method != "__call__" and not hasattr(mine, method)):
            return NotImplemented
        return (mine if method == "__call__" else getattr(mine, method))(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        import cupy
        target = cupy
        for name in func.__module__.split(".")[1:] + [func.__name__]:
            target = getattr(target, name, None)
        return NotImplemented if target is None else target(*args, **kwargs)

    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            if not isinstance(out, numpy.ndarray) or out.dtype != self.dtype or out.shape != self.shape:
                raise TypeError("out must be a numpy.ndarray of the same dtype and shape")
            out[...] = self._a
            return out
        return numpy.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, numpy.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self.dtype or arr.shape != self.shape:
            raise TypeError(f"{arr.dtype}{arr.shape} array cannot be set to {self.dtype}{self.shape} array")
        self._a[...] = arr

    # ---------------------------------------------------------------- attributes
    shape = property(lambda self: self._a.shape, lambda self, shape: setattr(self._a, "shape", shape))
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: wrap(self._a.T))
    mT = property(lambda self: wrap(self._a.mT))
    real = property(lambda self: wrap(self._a.real))
    imag = property(lambda self: wrap(self._a.imag))
    flags = property(lambda self: Flags(self._a))
    data = property(lambda self: MemoryPointer(self._a))
    base = property(lambda self: None if self._a.base is None else wrap(self._a.base)
                    if isinstance(self._a.base, numpy.ndarray) else None)

    @property
    def device(self):
        from .cuda import Device
        return Device(0)

    def __getattr__(self, name):
        if name not in METHODS | HOST_INDEX_METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        method = getattr(self._a, name)
        host_ok = name in HOST_INDEX_METHODS

        def call(*args, **kwargs):
            if name in ("astype", "view") and args:
                check_dtype(args[0])
            return wrap(method(*unwrap(args, host_ok), **unwrap(kwargs, host_ok)))
        return call

    def item(self):
        return self._a.item()

    def fill(self, value):
        if isinstance(value, numpy.ndarray | ndarray) and value.ndim:
            kind = "numpy" if isinstance(value, numpy.ndarray) else "cupy"
            raise ValueError(f"non-scalar {kind}.ndarray cannot be used for fill")
        self._a.fill(value.item() if isinstance(value, numpy.ndarray | ndarray) else operand(value))

    def put(self, indices, values, mode="wrap"):
        self._a.put(unwrap(indices, True), unwrap(values, True), mode=mode)

    # ---------------------------------------------------------------- Python protocols
    def __getitem__(self, key):
        return wrap(self._a[unwrap(key, host_ok=True)])

    def __setitem__(self, key, value):
        if isinstance(value, numpy.ndarray) and value.ndim and not is_array_index(key):
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        if not isinstance(value, (ndarray, numpy.ndarray, *SCALARS)):
            raise TypeError(f"Unsupported type {type(value)}")
        self._a[unwrap(key, host_ok=True)] = unwrap(value, host_ok=True)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __copy__(self):
        return wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return wrap(self._a.copy())

    __neg__, __pos__ = _unary(operator.neg), _unary(operator.pos)
    __abs__, __invert__ = _unary(operator.abs), _unary(operator.invert)
    __add__, __radd__ = _binary(operator.add), _binary(operator.add, True)
    __sub__, __rsub__ = _binary(operator.sub), _binary(operator.sub, True)
    __mul__, __rmul__ = _binary(operator.mul), _binary(operator.mul, True)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _binary(operator.truediv, True)
    __floordiv__, __rfloordiv__ = _binary(operator.floordiv), _binary(operator.floordiv, True)
    __mod__, __rmod__ = _binary(operator.mod), _binary(operator.mod, True)
    __pow__, __rpow__ = _binary(operator.pow), _binary(operator.pow, True)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _binary(operator.matmul, True)
    __and__, __rand__ = _binary(operator.and_), _binary(operator.and_, True)
    __or__, __ror__ = _binary(operator.or_), _binary(operator.or_, True)
    __xor__, __rxor__ = _binary(operator.xor), _binary(operator.xor, True)
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)
    __lt__, __le__ = _binary(operator.lt), _binary(operator.le)
    __gt__, __ge__ = _binary(operator.gt), _binary(operator.ge)
    __iadd__, __isub__, __imul__ = _in_place(operator.iadd), _in_place(operator.isub), _in_place(operator.imul)
    __itruediv__, __ipow__ = _in_place(operator.itruediv), _in_place(operator.ipow)
    __iand__, __ior__, __ixor__ = _in_place(operator.iand), _in_place(operator.ior), _in_place(operator.ixor)


def fresh(a):
    """``a`` (new, uninitialised memory) filled as stale device memory might be: NaN, or 0xA5 bytes."""
    if a.dtype.kind in "fc":
        a.fill(numpy.nan)
    elif a.size:
        a.ravel(order="A").view(numpy.uint8).fill(0xA5)
    return a
