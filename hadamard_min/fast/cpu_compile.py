"""How the fused CPU kernels (``cpu_kernels.py``, ``cpu_winograd.py``, ``cpu_windows.py``) are compiled, and
their constants."""
KERNEL_OPTIONS = {"cache": True, "nogil": True}  # compiled code kept on disk; the GIL let go


def units(array):
    """(1, 0) in ``array``'s dtype: a kernel's arithmetic then stays in that dtype, as NumPy's does."""
    return array.dtype.type(1), array.dtype.type(0)
