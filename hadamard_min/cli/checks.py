"""What every command's arguments are checked with before any work starts: numbers, the device, paths.

``integer(low, high)`` and ``number(low, high)`` are argparse types that refuse, in one line, anything
outside the range (``nan`` and ``inf`` included); :func:`use_device` applies ``--device`` or the
``HADAMARD_DEVICE`` environment variable, refusing a value that is neither ``cpu`` nor ``gpu``.
"""
import argparse
import math

from hadamard_min.core.backend import environment_device, set_device

DEVICES = ("cpu", "gpu")


def integer(low, high=None):
    """An argparse type: an integer in [low, high] (high None: no upper bound)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low:,} to {high:,}" if high is not None else f"of at least {low:,}"
            raise argparse.ArgumentTypeError(f"expected an integer {span}, not {text!r}")
        return value
    return parse


def number(low, high, low_inclusive=False):
    """An argparse type: a finite number in (low, high] (or [low, high] when ``low_inclusive``)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value >= low if low_inclusive else value > low
        if not (math.isfinite(value) and above and value <= high):
            bracket = "[" if low_inclusive else "("
            raise argparse.ArgumentTypeError(f"expected a number in {bracket}{low:g}, {high:g}], not {text!r}")
        return value
    return parse


SEED = integer(0, 2 ** 32 - 1)  # numpy.random.seed takes 32 bits


def use_device(requested):
    """Select ``requested`` ("cpu"/"gpu"), else ``$HADAMARD_DEVICE``, else the CPU (a bad value: DeviceError)."""
    set_device(requested or environment_device())
