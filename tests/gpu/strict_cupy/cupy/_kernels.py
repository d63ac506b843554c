"""RawKernel and ElementwiseKernel: the CUDA C source compiled by the host's C++ compiler and run on the CPU.

A raw kernel is called for every (block, thread) of its grid, one after another, with ``blockIdx``,
``threadIdx``, ``blockDim`` and ``gridDim`` set as CUDA would; its array arguments are the device arrays'
data pointers, exactly as CuPy passes them (a non-contiguous view is read as if it were contiguous, as on a
GPU). Each argument is checked against the kernel's declared parameter: a device array for a pointer to
its dtype, a scalar of the parameter's exact type (a Python int is an int64, as CuPy sends it), since a
mismatch on a GPU is not an error but garbage. An elementwise body runs inside a loop over the broadcast
elements, its parameters bound as CuPy binds them, its types decided by CuPy's rules.

Sequential threads hide races, shared memory and ``__syncthreads`` are not modelled, and ``-ffp-contract=off``
means no fused multiply-adds (NVRTC contracts by default). Compiled libraries are cached in the temporary
folder by the hash of their source.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy

from ._array import SCALARS, ndarray, wrap

C_TYPES = {"float": "float32", "double": "float64", "int": "int32", "unsigned int": "uint32",
           "long long": "int64", "long long int": "int64", "unsigned long long": "uint64", "short": "int16",
           "unsigned short": "uint16", "signed char": "int8", "unsigned char": "uint8", "bool": "bool",
           "size_t": "uint64", "ptrdiff_t": "int64"}
NAMES = {numpy.dtype(d): c for c, d in reversed(C_TYPES.items())}
PRELUDE = """#include <cmath>
#include <cstddef>
struct strict_dim3 { unsigned int x, y, z; };
static strict_dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
"""
LIMITS = (("grid", (2**31 - 1, 65535, 65535)), ("block", (1024, 1024, 64)))


def compile_library(source):
    """``source`` compiled into a shared library by g++ (cached on disk by its hash), loaded."""
    folder = Path(tempfile.gettempdir()) / f"strict-cupy-kernels-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    library = folder / f"{hashlib.sha256(source.encode()).hexdigest()[:24]}.so"
    if not library.exists():
        if shutil.which("g++") is None:
            raise RuntimeError("the strict CuPy stand-in compiles kernels with g++, which is not installed")
        code = library.with_suffix(f".{os.getpid()}.cpp")
        code.write_text(source)
        built = library.with_suffix(f".{os.getpid()}.so")
        result = subprocess.run(["g++", "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(built),
                                 str(code)], capture_output=True, text=True)
        code.unlink()
        if result.returncode:
            raise RuntimeError(f"the kernel does not compile (g++):\n{result.stderr}")
        built.replace(library)  # atomic: a concurrent process sees the whole library or none
    return ctypes.CDLL(str(library))


def _param_type(param):
    """The type of one declared parameter, spaced as ``const T*``, ``long long`` or ``int``."""
    text = re.sub(r"\w+\s*$", "", param.replace("__restrict__", "").replace("*", " * ")).strip()
    return " ".join(text.split()).replace(" *", "*")


def _typedefs(source):
    return {name: c_type for c_type, name in re.findall(r"typedef\s+([\w ]+?)\s+(\w+)\s*;", source)}


def _dtype_of(c_type, typedefs):
    """The NumPy dtype of a C scalar type (after typedefs), or None when this module does not know it."""
    c_type = " ".join(c_type.replace("const", " ").split())
    c_type = typedefs.get(c_type, c_type)
    return numpy.dtype(C_TYPES[c_type]) if c_type in C_TYPES else None


def _argument(value, c_type, typedefs, position):
    """(ctypes value, keep-alive) for one kernel argument, after checking it against its parameter."""
    where = f"argument {position} ({c_type})"
    if isinstance(value, numpy.ndarray):
        raise TypeError(f"Unsupported type {type(value)}")
    if c_type.rstrip().endswith("*"):
        if not isinstance(value, ndarray):
            raise TypeError(f"{where}: a pointer parameter needs a device array, not {type(value).__name__}")
        pointee = _dtype_of(c_type.rstrip()[:-1], typedefs)
        if pointee is not None and pointee != value.dtype:
            raise TypeError(f"{where}: an array of {value.dtype} where the kernel reads {pointee}")
        holder = ctypes.c_void_p(value._a.ctypes.data)  # CUDA takes the address of each argument's value
        return ctypes.c_void_p(ctypes.addressof(holder)), (holder, value)
    if isinstance(value, ndarray) or not isinstance(value, SCALARS):
        raise TypeError(f"{where}: a scalar parameter needs a scalar, not {type(value).__name__}")
    if not isinstance(value, numpy.generic):  # CuPy's conversion of Python scalars
        value = {bool: numpy.bool_, int: numpy.int64, float: numpy.float64, complex: numpy.complex128}[
            type(value)](value)
    wanted = _dtype_of(c_type, typedefs)
    if wanted is not None and wanted != value.dtype:
        raise TypeError(f"{where}: given a {value.dtype} (on a GPU its bytes would be read as {wanted})")
    buffer = numpy.array(value)
    return ctypes.c_void_p(buffer.ctypes.data), buffer


class RawKernel:
    """cupy.RawKernel(code, name): ``kernel(grid, block, args)`` runs ``name`` over the grid."""

    def __init__(self, code, name, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        self.code, self.name, self._library = code, name, None
        found = re.search(r"__global__\s+void\s+" + re.escape(name) + r"\s*\(([^)]*)\)", code)
        if found is None:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: no __global__ function named {name!r}")
        self._types = [_param_type(p) for p in found.group(1).split(",") if p.strip()]
        self._typedefs = _typedefs(code)

    def _compiled(self):
        if self._library is None:
            params = ", ".join(f"*({t}*)args[{k}]" for k, t in enumerate(self._types))
            launcher = f"""
extern "C" void strict_launch(const unsigned int* grid, const unsigned int* block, void** args) {{
    gridDim = {{grid[0], grid[1], grid[2]}}; blockDim = {{block[0], block[1], block[2]}};
    for (blockIdx.z = 0; blockIdx.z < grid[2]; ++blockIdx.z)
    for (blockIdx.y = 0; blockIdx.y < grid[1]; ++blockIdx.y)
    for (blockIdx.x = 0; blockIdx.x < grid[0]; ++blockIdx.x)
    for (threadIdx.z = 0; threadIdx.z < block[2]; ++threadIdx.z)
    for (threadIdx.y = 0; threadIdx.y < block[1]; ++threadIdx.y)
    for (threadIdx.x = 0; threadIdx.x < block[0]; ++threadIdx.x)
        {self.name}({params});
}}"""
            self._library = compile_library(PRELUDE + self.code + launcher)
        return self._library

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None, enable_cooperative_groups=False):
        if not isinstance(grid, tuple) or not isinstance(block, tuple):
            raise TypeError("grid and block must be tuples")
        dims = {}
        for (label, limits), given in zip(LIMITS, (grid, block), strict=True):
            dims[label] = tuple(max(1, int(v)) for v in (tuple(given) + (1, 1))[:3])  # CuPy runs 0 as 1
            if any(v > limit for v, limit in zip(dims[label], limits, strict=True)):
                raise RuntimeError(f"CUDA_ERROR_INVALID_VALUE: {label} {given} is outside {limits}")
        if numpy.prod(dims["block"]) > 1024:
            raise RuntimeError(f"CUDA_ERROR_INVALID_VALUE: {numpy.prod(dims['block'])} threads in a block")
        if len(args) != len(self._types):
            raise TypeError(f"{self.name} takes {len(self._types)} arguments, {len(args)} given")
        converted = [_argument(v, t, self._typedefs, k) for k, (v, t) in enumerate(zip(args, self._types))]
        pointers = (ctypes.c_void_p * len(converted))(*[c for c, _ in converted])
        grid_c, block_c = ((ctypes.c_uint * 3)(*dims[label]) for label in ("grid", "block"))
        self._compiled().strict_launch(grid_c, block_c, pointers)


class ElementwiseKernel:
    """cupy.ElementwiseKernel(in_params, out_params, operation, name): the body once per element."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True, preamble="",
                 no_return=False, return_tuple=False, loop_prep="", after_loop="", options=()):
        self.inputs, self.outputs = _params(in_params), _params(out_params)
        self.operation, self.name, self.preamble = operation, name, preamble
        self.no_return, self.return_tuple = no_return, return_tuple
        self.loop_prep, self.after_loop = loop_prep, after_loop
        self._libraries = {}

    def __call__(self, *args, size=None, block_size=None):
        if size is not None:
            raise NotImplementedError("the strict CuPy stand-in runs no raw (size=) elementwise kernels")
        n_in = len(self.inputs)
        if len(args) not in (n_in, n_in + len(self.outputs)):
            raise TypeError(f"Wrong number of arguments for {self.name!r}")
        for value in args[:n_in]:
            if not isinstance(value, (ndarray, *SCALARS)):
                raise TypeError(f"Unsupported type {type(value)}")
        if not all(isinstance(value, ndarray) for value in args[n_in:]):
            raise TypeError("Output arguments type must be cupy.ndarray")
        types = _decide_types(self.inputs, self.outputs, args[:n_in], args[n_in:])
        arrays = [a._a for a in args[:n_in] if isinstance(a, ndarray)]
        if not arrays:
            raise ValueError("Loop size is undecided.")
        shape = numpy.broadcast_shapes(*[a.shape for a in arrays])
        data = [numpy.array(numpy.broadcast_to(a._a, shape), dtype=t, order="C") if isinstance(a, ndarray)
                else numpy.full(shape, a, dtype=t) for a, t in zip(args[:n_in], types[:n_in], strict=True)]
        for out in args[n_in:]:
            if out.shape != shape:
                raise ValueError("Out shape is mismatched")
        results = [numpy.full(shape, numpy.nan if numpy.dtype(t).kind == "f" else 0, dtype=t)
                   for t in types[n_in:]]
        pointers = (ctypes.c_void_p * len(data + results))(*[a.ctypes.data for a in data + results])
        self._library(types).strict_elementwise(ctypes.c_longlong(int(numpy.prod(shape))), pointers)
        outs = list(args[n_in:])
        for k, result in enumerate(results):
            if k < len(outs):
                outs[k]._a[...] = result
            else:
                outs.append(wrap(result))
        if self.no_return:
            return None
        return tuple(outs) if self.return_tuple or len(outs) > 1 else outs[0]

    def _library(self, types):
        key = tuple(numpy.dtype(t).name for t in types)
        if key not in self._libraries:
            params = self.inputs + self.outputs
            placeholders = {p[1]: numpy.dtype(t) for p, t in zip(params, types, strict=True) if p[0] is None}
            typedefs = "".join(f"typedef {NAMES[d]} {c};\n" for c, d in placeholders.items())
            bindings = []
            for k, ((_, ctype, name), t) in enumerate(zip(params, types, strict=True)):
                c_type = ctype if ctype in placeholders else NAMES[numpy.dtype(t)]
                const = "const " if k < len(self.inputs) else ""
                bindings.append(f"{const}{c_type} &{name} = (({const}{c_type}*)strict_p[{k}])[i];")
            source = PRELUDE + typedefs + self.preamble + f"""
struct strict_indexer {{ long long n; long long size() const {{ return n; }} }};
extern "C" void strict_elementwise(long long strict_n, void** strict_p) {{
    strict_indexer _ind{{strict_n}};
    {self.loop_prep}
    for (long long i = 0; i < strict_n; ++i) {{
        {" ".join(bindings)}
        {{ {self.operation}; }}
    }}
    {self.after_loop}
}}"""
            self._libraries[key] = compile_library(source)
        return self._libraries[key]


def _params(text):
    """[(dtype or None, C type name, name)] of a parameter list like ``"T x, bool mask, int32 rule"``."""
    params = []
    for param in filter(None, (p.strip() for p in text.split(","))):
        words = param.split()
        if len(words) != 2:
            raise NotImplementedError(f"the strict CuPy stand-in cannot bind {param!r} (raw or _non_const)")
        kind, name = words
        params.append((None, kind, name) if len(kind) == 1 else (numpy.dtype(kind), kind, name))
    return params


def _decide_types(inputs, outputs, in_args, out_args):
    """CuPy's rules: fixed types must match exactly; one placeholder, one dtype; scalars take it."""
    placeholders = {}
    pairs = list(zip(outputs, [a.dtype for a in out_args], strict=False)) + \
        [(p, a.dtype if isinstance(a, ndarray) else None) for p, a in zip(inputs, in_args, strict=True)]
    for (fixed, ctype, name), dtype in pairs:
        if dtype is None:
            continue
        if fixed is not None and dtype != fixed:
            raise TypeError(f"Type is mismatched. {name} {dtype} {fixed}")
        if fixed is None and placeholders.setdefault(ctype, dtype) != dtype:
            raise TypeError(f"Type is mismatched. {name} {dtype} {placeholders[ctype]} {ctype}")
    try:
        return [fixed if fixed is not None else placeholders[ctype] for fixed, ctype, _ in inputs + outputs]
    except KeyError as missing:
        raise TypeError(f"the type {missing} is decided by no array argument") from None
