"""The strict CuPy stand-in (strict_cupy/cupy) is as strict as CuPy where the GPU tests rely on it: each check
here is a mistake it must refuse, or a GPU behaviour it must reproduce. Skipped where real CuPy is used."""
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

STAND_IN = Path(__file__).resolve().parent / "strict_cupy"


def stand_in_in_use():
    try:
        import cupy
    except Exception:  # ImportError, or a CuPy built for another CUDA
        return False
    return STAND_IN in Path(cupy.__file__).resolve().parents


pytestmark = pytest.mark.skipif(not stand_in_in_use(), reason="the strict CuPy stand-in is not in use (CuPy is "
                                                              "installed, or HADAMARD_STRICT_CUPY is not 1)")

COPY = r"""
typedef float T;
extern "C" __global__ void copy(const T* x, T* y, long long total, int scale) {
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x)
        y[k] = x[k] * scale;
}
"""


def test_implicit_conversion_to_numpy_is_refused(cupy):
    device = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
    for convert in (numpy.asarray, numpy.array, numpy.float32, lambda a: numpy.testing.assert_equal(a, a.get())):
        with pytest.raises(TypeError, match=r"Implicit conversion to a NumPy array is not allowed\.|Unsupported type"):
            convert(device)
    host = cupy.asnumpy(device)  # the explicit ways out copy
    host[0, 0] = 7
    assert type(host) is numpy.ndarray and float(device[0, 0]) == 0 and device.get()[1, 2] == 5


def test_numpy_arrays_beside_device_arrays_are_refused(cupy):
    device, host = cupy.ones(3, dtype=cupy.float32), numpy.ones(3, dtype=numpy.float32)
    for mix in (lambda: device + host, lambda: host * device, lambda: cupy.exp(host),
                lambda: cupy.maximum(device, host), lambda: cupy.concatenate([device, host]), lambda: device @ host):
        with pytest.raises(TypeError):
            mix()
    with pytest.raises(ValueError, match=r"non-scalar numpy\.ndarray"):
        device[...] = host
    device[numpy.array([0, 2])] = numpy.array([5.0, 6.0])  # as indices, host arrays are copied over (CuPy too)
    assert device.tolist() == [5.0, 1.0, 6.0] and isinstance(device + numpy.float32(1), cupy.ndarray)


def test_reductions_and_indexing_give_0d_device_arrays(cupy):
    device = cupy.arange(4.0)
    for value in (device.sum(), device.max(), device[2], cupy.mean(device), device.argmax()):
        assert isinstance(value, cupy.ndarray) and value.ndim == 0
    assert float(device.sum()) == 6 and int(device.argmax()) == 3


def test_only_cupy_names_and_attributes(cupy):
    with pytest.raises(AttributeError):
        cupy.nditer  # noqa: B018 (NumPy has it, CuPy does not)
    with pytest.raises(AttributeError):
        cupy.zeros(2).flags.writeable  # noqa: B018
    with pytest.raises(TypeError):
        cupy.lib.stride_tricks.as_strided(cupy.zeros(4), (2,), (8,), writeable=False)
    with pytest.raises(TypeError, match="scatter_add"):
        cupy.add.at(cupy.zeros(3, dtype=cupy.int64), cupy.asarray([0, 0]), 1)


def test_empty_memory_is_not_zero(cupy):
    assert numpy.isnan(cupy.empty((2, 3), dtype=cupy.float32).get()).all()


def test_raw_kernels_run_on_the_grid_with_checked_arguments(cupy):
    kernel = cupy.RawKernel(COPY, "copy")
    x = cupy.arange(12, dtype=cupy.float32).reshape(3, 4)
    y = cupy.empty(12, dtype=cupy.float32)
    kernel((2,), (3,), (x, y, numpy.int64(12), numpy.int32(2)))  # 6 threads stride over 12 items
    assert y.tolist() == list(range(0, 24, 2))
    kernel((1,), (5,), (x.T, y, numpy.int64(12), numpy.int32(1)))  # a view's raw memory, as on a GPU
    assert y.tolist() == list(range(12))
    for wrong in ((x, y, numpy.int32(12), numpy.int32(1)), (x, y, 12, 1),  # Python ints are int64 in CuPy
                  (x.astype(cupy.float64), y, numpy.int64(12), numpy.int32(1)),
                  (x.get(), y, numpy.int64(12), numpy.int32(1))):
        with pytest.raises(TypeError):
            kernel((1,), (32,), wrong)
    with pytest.raises(RuntimeError, match="INVALID_VALUE"):
        kernel((1,), (2048,), (x, y, numpy.int64(12), numpy.int32(1)))


def test_elementwise_kernels_bind_and_type_as_cupy_does(cupy):
    kernel = cupy.ElementwiseKernel("T x, T y, int32 k", "T z, bool positive",
                                    "z = x * k + y; positive = z > (T)0", "axpy")
    x, y = cupy.asarray([[1.0, -2.0]], dtype=cupy.float32), cupy.asarray([[0.5], [-9.0]], dtype=cupy.float32)
    z, positive = kernel(x, y, 3)
    assert z.dtype == cupy.float32 and z.tolist() == [[3.5, -5.5], [-6.0, -15.0]]
    assert positive.tolist() == [[True, False], [False, False]]
    with pytest.raises(TypeError, match="Type is mismatched"):
        kernel(x, y.astype(cupy.float64), 3)
    with pytest.raises(TypeError, match="Unsupported type"):
        kernel(x, y.get(), 3)


def test_commands_started_by_the_tests_import_the_stand_in(cupy):
    found = subprocess.run([sys.executable, "-c", "import cupy; print(cupy.__file__)"], capture_output=True,
                           text=True, check=True).stdout
    assert STAND_IN.as_posix() in found
