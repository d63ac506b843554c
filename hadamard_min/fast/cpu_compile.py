"""How the fused CPU kernels (``cpu_kernels.py``, ``cpu_winograd.py``, ``cpu_windows.py``) are compiled, and
their constants."""
from numba import njit


def _cache_on_disk():
    """Whether Numba has somewhere to keep compiled code for this folder's kernels: beside them, in
    ``NUMBA_CACHE_DIR`` or in the user's cache. Numba looks when a function is decorated (nothing compiles),
    and without a place it refuses ``cache=True``; then each process compiles the kernels it runs."""
    try:
        njit(cache=True)(units)
    except RuntimeError:  # "cannot cache function …: no locator available": a read-only install, HOME too
        return False
    return True


def units(array):
    """(1, 0) in ``array``'s dtype: a kernel's arithmetic then stays in that dtype, as NumPy's does."""
    return array.dtype.type(1), array.dtype.type(0)


KERNEL_OPTIONS = {"cache": _cache_on_disk(), "nogil": True}  # compiled code kept on disk if it can be; no GIL
