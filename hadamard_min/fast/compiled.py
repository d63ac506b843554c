"""Which fused CPU kernels compute on an array: the one place that decides (the GPU's: ``cuda_kernels.fused``).

``cpu(array)`` is the module of the Numba kernels (``cpu_kernels.py``) for a NumPy
float32 or float64 array when Numba is installed (the extra ``.[fast]``) and ``HADAMARD_NUMBA`` is not 0
(``switch.py``); otherwise None, and the NumPy fast forms run, as they do without the extra. Importing this
module imports no Numba.
"""
import functools

import numpy

from hadamard_min.fast.switch import enabled, numba_enabled


@functools.cache
def _kernels():
    try:
        from hadamard_min.fast import cpu_kernels
    except ImportError:  # no Numba: the NumPy forms
        return None
    return cpu_kernels


def available():
    """Whether the fused CPU kernels are installed (Numba imports)."""
    return _kernels() is not None


def prepare(dtype=numpy.float32):
    """Load the kernels' compiled code for ``dtype`` now, where they would run: a process forked after this
    (``hadamard_min.parallel``'s workers) has it already instead of loading it again (0.3–0.4 s each)."""
    if enabled() and numba_enabled() and available():
        _kernels().load(dtype)


def cpu(array):
    """The fused CPU kernels for ``array`` (a NumPy float32/float64 array), or None: the NumPy forms run."""
    if not (isinstance(array, numpy.ndarray) and array.dtype in (numpy.float32, numpy.float64)):
        return None
    return _kernels() if numba_enabled() else None
