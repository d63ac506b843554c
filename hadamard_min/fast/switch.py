"""The one switch of the fast path: on by default, off with ``HADAMARD_FAST=0`` or ``with fast(False):``; and
within it, whether the fast forms run as fused Numba kernels where Numba is installed (``HADAMARD_NUMBA``)."""
import contextlib
import os


class FastSwitchError(ValueError):
    """``HADAMARD_FAST`` or ``HADAMARD_NUMBA`` holds something other than 0 or 1, or a switch was given a
    value other than True or False."""


class Switch:
    """One on/off setting: read from the environment ``variable`` the first time (0 is ``off``; 1, unset or
    blank is ``on``), changed inside ``with switch.set(flag):`` blocks."""

    def __init__(self, variable, off, on, name):
        self.variable, self.off, self.on, self.name = variable, off, on, name
        self.value = None  # None: not decided yet

    def enabled(self):
        if self.value is None:
            value = os.environ.get(self.variable, "").strip() or "1"
            if value not in ("0", "1"):
                raise FastSwitchError(f"{self.variable} must be 0 ({self.off}) or 1 ({self.on}), not {value!r}")
            self.value = value == "1"
        return self.value

    @contextlib.contextmanager
    def set(self, flag=True):
        if flag not in (True, False) or isinstance(flag, str | bytes):  # numpy's bools too, nothing else
            raise FastSwitchError(f"{self.name}(flag) takes True or False, not {flag!r}")
        previous, self.value = self.enabled(), bool(flag)
        try:
            yield
        finally:
            self.value = previous


FAST = Switch("HADAMARD_FAST", "reference ops only", "fast path", "fast")
NUMBA = Switch("HADAMARD_NUMBA", "NumPy fast forms", "Numba kernels", "numba_kernels")


def enabled():
    """Whether layers take the fast forms of their ops (``HADAMARD_FAST``, default 1 when unset or blank, as
    ``HADAMARD_DEVICE``; read the first time)."""
    return FAST.enabled()


def fast(flag=True):
    """Inside this block the fast path is on (``fast()``) or off (``fast(False)``: reference ops only)."""
    return FAST.set(flag)


def numba_enabled():
    """Whether the fast forms may run as fused Numba kernels where installed (``HADAMARD_NUMBA``, default 1)."""
    return NUMBA.enabled()


def numba_kernels(flag=True):
    """Inside this block the fast forms run as Numba kernels where installed (True) or as NumPy code (False)."""
    return NUMBA.set(flag)
