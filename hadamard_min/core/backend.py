"""The one place that decides where arrays live: NumPy on the CPU or CuPy on a GPU.

Every op asks this module for ``xp`` (the array module) and calls only ``xp.*``, so the same
code runs on both devices (Chainer's idiom). The device is chosen by ``set_device("cpu" | "gpu")``,
else by the environment variable ``HADAMARD_DEVICE``, else the CPU.
"""
import os

import numpy

try:  # CuPy is optional: CPU machines work without it.
    import cupy
except Exception:
    cupy = None

_device = None  # "cpu" or "gpu", decided lazily


class DeviceError(RuntimeError):
    """The requested device cannot be used on this machine."""


class UnknownDeviceError(DeviceError, ValueError):
    """A device name other than "cpu" or "gpu" (given, or in ``HADAMARD_DEVICE``)."""


def _check_gpu():
    if cupy is None:
        raise DeviceError("GPU requested but CuPy is not installed: pip install 'hadamard-min[gpu]', "
                          "or use the CPU (--device cpu)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:
        count = 0
    if count == 0:
        raise DeviceError("GPU requested but no CUDA device was found: use the CPU (--device cpu)")


def set_device(name):
    """Choose ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy) for every array created from now on."""
    global _device
    if name not in ("cpu", "gpu"):
        raise UnknownDeviceError(f"device must be 'cpu' or 'gpu', not {name!r}")
    if name == "gpu":
        _check_gpu()
    _device = name


def get_device():
    """The current device name; reads ``HADAMARD_DEVICE`` the first time."""
    if _device is None:
        set_device(environment_device())
    return _device


def environment_device():
    """``HADAMARD_DEVICE`` ("cpu" when unset or blank); any other value than cpu or gpu is refused, "GPU" too,
    as ``--device GPU`` and ``set_device("GPU")`` are (spaces around it are dropped, as ``HADAMARD_FAST``'s)."""
    value = os.environ.get("HADAMARD_DEVICE", "")
    name = value.strip() or "cpu"
    if name not in ("cpu", "gpu"):
        raise UnknownDeviceError(f"HADAMARD_DEVICE is {value!r}; set it to cpu or gpu, or unset it")
    return name


def get_xp():
    """The array module of the current device: ``numpy`` or ``cupy``."""
    return cupy if get_device() == "gpu" else numpy


def array_module(array):
    """The array module that owns ``array`` (so backward runs where forward ran)."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return numpy


def device_of(array):
    """``"gpu"`` for a CuPy array, else ``"cpu"``."""
    return "gpu" if array_module(array) is not numpy else "cpu"


def check_on_current_device(arrays, what):
    """Raise :class:`DeviceError` where one of ``arrays`` is not on the current device: an op would mix the two
    (CuPy refuses NumPy arrays deep in the op, NumPy CuPy's), as after ``set_device`` with a model already loaded."""
    device = get_device()
    for array in arrays:  # buffers that are not arrays (None) live nowhere
        if hasattr(array, "shape") and device_of(array) != device:
            raise DeviceError(f"{what} is on the {device_of(array).upper()} but the device is {device!r} "
                              f"(set_device or HADAMARD_DEVICE): call {what}.to_current_device() after "
                              f"set_device, or load it after choosing the device")


def to_device(array, device=None):
    """Move ``array`` to ``device`` (default: the current one). The one helper that copies across."""
    if device is not None and device not in ("cpu", "gpu"):  # "cuda" or "tpu" was read as the CPU, unsaid
        raise UnknownDeviceError(f"device must be None, 'cpu' or 'gpu', not {device!r}")
    device = device or get_device()
    if device == "gpu":
        if _device != "gpu":  # unchecked yet: no CuPy was an AttributeError of None, no device CuPy's own error
            _check_gpu()
        return cupy.asarray(array)
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return numpy.asarray(array)


def to_numpy(array):
    """A NumPy copy (or view) of ``array``, wherever it lives."""
    return to_device(array, "cpu")
