"""A strict stand-in for CuPy, so that the GPU tests run on machines without a GPU (CI).

It is imported as ``cupy`` only where CuPy is not installed and ``HADAMARD_STRICT_CUPY=1`` is set
(tests/gpu/conftest.py puts its folder first on the path, for subprocesses too); it refuses to load
otherwise. Device arrays are NumPy arrays behind a wall, and the wall is as strict as CuPy's:

- ``numpy.asarray(device_array)`` raises TypeError, as every implicit conversion; only ``cupy.asnumpy``,
  ``.get()`` and ``cupy.asarray`` cross, and they copy (host and device never share memory);
- a NumPy array next to a device array in an operator, a ufunc or a routine raises TypeError, and
  ``device[...] = host_array`` raises ValueError (CuPy copies host arrays over only as indices, or as the
  values assigned at array indices);
- reductions and integer indexing give 0-d device arrays, never scalars; ``flags`` has no ``writeable``;
- the module has only names CuPy 14 has (anything else is an AttributeError), with CuPy's signatures where
  they differ from NumPy's (``lib.stride_tricks.as_strided``, ``ufunc.at`` dtypes);
- ``RawKernel`` and ``ElementwiseKernel`` compile their CUDA C with g++ and run it over the whole grid,
  their arguments checked against the kernel's parameter types; ``empty`` memory holds NaN.

What it shows: host/device mixing, calls CuPy does not have, dtype mistakes (float64 creeping into
float32, kernel arguments of the wrong type or size), contiguity mistakes (a kernel reads a view's raw
memory as CuPy hands it over), kernels that leave outputs unwritten, and that the kernel sources compile
and compute what their references do. What it cannot show: anything about cuBLAS or CUDA arithmetic
(results are NumPy's, so accuracy bounds against the CPU pass trivially), speed or memory use, races
between threads, asynchrony, and NVRTC compiling the sources (g++ is more lenient on some things and
stricter on others). Those need the real device: tests/gpu/run_on_device.sh.
"""
import os

import numpy

if os.environ.get("HADAMARD_STRICT_CUPY") != "1":
    raise ImportError("this is the strict CuPy stand-in of tests/gpu, not CuPy: set HADAMARD_STRICT_CUPY=1 "
                      "to use it, or install CuPy")

from . import cuda, lib, random
from ._array import ndarray
from ._kernels import ElementwiseKernel, RawKernel
from ._routines import ROUTINES, ufunc

__version__ = "14.0.0+strict-stand-in"
DTYPES = ["bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
          "float32", "float64", "complex64", "complex128", "intp", "dtype", "finfo", "iinfo", "integer",
          "floating", "number", "issubdtype", "can_cast", "promote_types", "inf", "nan", "pi", "e", "newaxis"]
globals().update({name: getattr(numpy, name) for name in DTYPES})
globals().update(ROUTINES)


def get_default_memory_pool():
    return cuda.DEFAULT_POOL


def get_default_pinned_memory_pool():
    return cuda.PINNED_POOL


def is_available():
    return True


def __getattr__(name):
    raise AttributeError(f"module 'cupy' has no attribute {name!r} (the strict stand-in has a subset of CuPy's "
                         f"names: if CuPy 14 has it, add it to tests/gpu/strict_cupy)")


__all__ = ["DTYPES", "ElementwiseKernel", "RawKernel", "cuda", "get_default_memory_pool",
           "get_default_pinned_memory_pool", "is_available", "lib", "ndarray", "random", "ufunc",
           *DTYPES, *ROUTINES]
