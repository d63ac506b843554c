"""What every command's arguments are checked with before any work starts: numbers, the device, paths.

``integer(low, high)`` and ``number(low, high)`` are argparse types that refuse, in one line, anything
outside the range (``nan`` and ``inf`` included) and any number not written in ASCII digits; :func:`use_device`
applies ``--device`` or the ``HADAMARD_DEVICE`` environment variable, refusing a value that is neither ``cpu``
nor ``gpu``.
"""
import argparse
import math
import os
import re
from pathlib import Path

from hadamard_min.core.backend import environment_device, set_device

DEVICES = ("cpu", "gpu")
DEVICE_HELP = "where to compute: cpu (NumPy) or gpu (CuPy on an NVIDIA GPU); default: $HADAMARD_DEVICE or cpu"


def question_text(text):
    """An argparse type: the text as typed. Under an ASCII locale Python reads each non-ASCII byte of an
    argument as a lone surrogate ("café" as "caf\\udcc3\\udca9"); those bytes are decoded again as UTF-8
    (bytes that are no UTF-8 become U+FFFD), so that a word keeps its letters."""
    if not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    return os.fsencode(text).decode("utf-8", "replace")


# What an option's number may look like. int() and float() also read other scripts' digits ("１０", "٣") and
# underscores ("1_000"): a value pasted from elsewhere, or a typo, would be taken silently as another number
# than the one the user saw. Options take what their help shows: ASCII digits, a sign, and for a real number a
# decimal point and an exponent ("1e-4").
INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _how_written(text):
    """What to add to a refusal whose value Python alone would have read: why it is refused."""
    if any(c == "_" or not c.isascii() for c in text):
        return " written in ASCII digits 0-9 (no '_', no other script's digits)"
    return ""


def integer(low, high=None):
    """An argparse type: an integer in [low, high] (high None: no upper bound), in ASCII digits."""
    def parse(text):
        value = int(text) if INTEGER.fullmatch(text) else None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low:,} to {high:,}" if high is not None else f"of at least {low:,}"
            raise argparse.ArgumentTypeError(f"expected an integer {span}{_how_written(text)}, not {text!r}")
        return value
    return parse


def number(low, high, low_inclusive=False, high_inclusive=True):
    """An argparse type: a finite number in (low, high] (``low_inclusive``: [low, …; not ``high_inclusive``:
    …, high)), in ASCII digits, with a decimal point or an exponent if need be."""
    def parse(text):
        value = float(text) if DECIMAL.fullmatch(text) else math.nan
        above = value >= low if low_inclusive else value > low
        below = value <= high if high_inclusive else value < high
        if not (math.isfinite(value) and above and below):
            span = f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"
            raise argparse.ArgumentTypeError(f"expected a number in {span}{_how_written(text)}, not {text!r}")
        return value
    return parse


def path(text):
    """An argparse type: a file's or folder's path, refused when empty (pathlib reads "" as ".", so
    ``--image ""`` was "a folder" and ``--out-dir ""`` the folder the command runs in)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, not an empty one")
    return Path(text)


def path_text(text):
    """An argparse type: a path as given, a string, refused when empty (:func:`path`): port's "" was 'weights file
    not found: ;', and ``hadamard-evaluate --data ""`` read the folder the command runs in."""
    path(text)
    return text


def path_or_stdout(text):
    """An argparse type: "-" (standard output) as it is, else :func:`path`."""
    return text if text == "-" else path(text)


SEED = integer(0, 2 ** 32 - 1)  # numpy.random.seed takes 32 bits


def use_device(requested):
    """Select ``requested`` ("cpu"/"gpu"), else ``$HADAMARD_DEVICE``, else the CPU (a bad value: DeviceError)."""
    set_device(requested or environment_device())
