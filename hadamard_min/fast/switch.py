"""The one switch of the fast path: on by default, off with ``HADAMARD_FAST=0`` or ``with fast(False):``; and
within it, whether the fast forms run as fused Numba kernels where Numba is installed (``HADAMARD_NUMBA``)."""
import contextlib
import os

_enabled = None  # None: not decided yet (read HADAMARD_FAST on first use)


class FastSwitchError(ValueError):
    """``HADAMARD_FAST`` holds something other than 0 or 1."""


def enabled():
    """Whether layers take the fast forms of their ops (``HADAMARD_FAST``, default 1 when unset or blank, as
    ``HADAMARD_DEVICE``; read the first time)."""
    global _enabled
    if _enabled is None:
        value = os.environ.get("HADAMARD_FAST", "").strip() or "1"
        if value not in ("0", "1"):
            raise FastSwitchError(f"HADAMARD_FAST must be 0 (reference ops only) or 1 (fast path), not {value!r}")
        _enabled = value == "1"
    return _enabled


@contextlib.contextmanager
def fast(flag=True):
    """Inside this block the fast path is on (``fast()``) or off (``fast(False)``: reference ops only)."""
    global _enabled
    previous, _enabled = enabled(), bool(flag)
    try:
        yield
    finally:
        _enabled = previous


_numba = None  # None: not decided yet (read HADAMARD_NUMBA on first use)


def numba_enabled():
    """Whether the fast forms may run as fused Numba kernels where installed (``HADAMARD_NUMBA``, default 1)."""
    global _numba
    if _numba is None:
        value = os.environ.get("HADAMARD_NUMBA", "1").strip()
        if value not in ("0", "1"):
            raise FastSwitchError(f"HADAMARD_NUMBA must be 0 (NumPy fast forms) or 1 (Numba kernels), not {value!r}")
        _numba = value == "1"
    return _numba


@contextlib.contextmanager
def numba_kernels(flag=True):
    """Inside this block the fast forms run as Numba kernels where installed (True) or as NumPy code (False)."""
    global _numba
    previous, _numba = numba_enabled(), bool(flag)
    try:
        yield
    finally:
        _numba = previous
