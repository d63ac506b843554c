"""The one switch of the fast path: on by default, off with ``HADAMARD_FAST=0`` or ``with fast(False):``; and
within it, whether the fast forms run as fused Numba kernels where Numba is installed (``HADAMARD_NUMBA``)."""
import contextlib
import os

_enabled = None  # None: not decided yet (read HADAMARD_FAST on first use)
_numba = None  # None: not decided yet (read HADAMARD_NUMBA on first use)


class FastSwitchError(ValueError):
    """``HADAMARD_FAST`` or ``HADAMARD_NUMBA`` holds something other than 0 or 1, or a switch was given a
    value other than True or False."""


def _read(variable, off, on):
    """The environment ``variable`` as a bool: 0 is ``off``, 1 (or unset, or blank) is ``on``."""
    value = os.environ.get(variable, "").strip() or "1"
    if value not in ("0", "1"):
        raise FastSwitchError(f"{variable} must be 0 ({off}) or 1 ({on}), not {value!r}")
    return value == "1"


def _flag(flag, name):
    """``flag`` as a switch's setting: True or False (numpy's bools too), nothing else."""
    if flag not in (True, False) or isinstance(flag, str | bytes):
        raise FastSwitchError(f"{name}(flag) takes True or False, not {flag!r}")
    return bool(flag)


def enabled():
    """Whether layers take the fast forms of their ops (``HADAMARD_FAST``, default 1 when unset or blank, as
    ``HADAMARD_DEVICE``; read the first time)."""
    global _enabled
    if _enabled is None:
        _enabled = _read("HADAMARD_FAST", "reference ops only", "fast path")
    return _enabled


@contextlib.contextmanager
def fast(flag=True):
    """Inside this block the fast path is on (``fast()``) or off (``fast(False)``: reference ops only)."""
    global _enabled
    previous, _enabled = enabled(), _flag(flag, "fast")
    try:
        yield
    finally:
        _enabled = previous


def numba_enabled():
    """Whether the fast forms may run as fused Numba kernels where installed (``HADAMARD_NUMBA``, default 1)."""
    global _numba
    if _numba is None:
        _numba = _read("HADAMARD_NUMBA", "NumPy fast forms", "Numba kernels")
    return _numba


@contextlib.contextmanager
def numba_kernels(flag=True):
    """Inside this block the fast forms run as Numba kernels where installed (True) or as NumPy code (False)."""
    global _numba
    previous, _numba = numba_enabled(), _flag(flag, "numba_kernels")
    try:
        yield
    finally:
        _numba = previous
