"""Comparing a GPU result with the CPU one: the errors every GPU test reports."""
import contextlib

import numpy

from hadamard_min.core.backend import get_device, set_device, to_numpy

TOLERANCE = 1e-4  # float32 ops: relative to the largest value of the CPU result


@contextlib.contextmanager
def on(device):
    """Inside this block new arrays (parameters, inputs) are made on ``device`` ("cpu" or "gpu")."""
    previous = get_device()
    set_device(device)
    try:
        yield
    finally:
        set_device(previous)


def host(array):
    """A float64 NumPy copy of ``array``, wherever it lives."""
    return numpy.asarray(to_numpy(array), dtype=numpy.float64)


def relative_error(gpu, cpu):
    """max |gpu − cpu| / max |cpu|."""
    gpu, cpu = host(gpu), host(cpu)
    assert gpu.shape == cpu.shape, (gpu.shape, cpu.shape)
    return float(numpy.abs(gpu - cpu).max() / max(numpy.abs(cpu).max(), 1e-30))


def norm_error(gpu, cpu):
    """‖gpu − cpu‖ / ‖cpu‖ (Frobenius norms): robust to a few units that flip sign within rounding."""
    gpu, cpu = host(gpu), host(cpu)
    assert gpu.shape == cpu.shape, (gpu.shape, cpu.shape)
    return float(numpy.linalg.norm(gpu - cpu) / max(numpy.linalg.norm(cpu), 1e-30))
