"""The question's tokens coloured by their z-scores (eq. 11): colours, and one line for a terminal.

Token colours: the diverging map ``RdBu_r`` on [−limit, +limit] (red = high z, blue = low z); a z-score
that is not a number (a one-word question's is 0/0) is grey. :func:`use_color` decides whether a stream
gets colours at all (``NO_COLOR``, ``FORCE_COLOR``, ``TERM=dumb``, a terminal or not).
"""
import math
import os

from matplotlib import colormaps

from hadamard_min.escapes import printable
from hadamard_min.explain.maps import FigureInputError
from hadamard_min.progress import is_terminal

TOKEN_CMAP = "RdBu_r"
NAN_COLOR = (0.75, 0.75, 0.75)


def token_color(z, limit=2.0):
    """RGB in [0, 1] of a token z-score on ``RdBu_r`` over [−limit, limit] (clipped).

    +limit → dark red, 0 → near white, −limit → dark blue; a NaN z (e.g. a one-word question, whose
    z-score is 0/0) is grey.
    """
    if z is None or not math.isfinite(z):
        return NAN_COLOR
    fraction = (min(max(float(z), -limit), limit) + limit) / (2.0 * limit)
    return tuple(float(c) for c in colormaps[TOKEN_CMAP](fraction)[:3])


def text_on(rgb):
    """Black or white, whichever reads better on the background ``rgb`` (relative luminance)."""
    luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return (0.0, 0.0, 0.0) if luminance > 0.45 else (1.0, 1.0, 1.0)


def format_z(z):
    return "n/a" if z is None or not math.isfinite(z) else f"{z:+.2f}"


def use_color(stream):
    """Whether text for ``stream`` gets colour escapes, by the common conventions, first match wins:
    ``NO_COLOR`` set and non-empty: never (no-color.org); ``FORCE_COLOR`` set and non-empty: always
    (force-color.org); ``TERM=dumb``: never; otherwise when ``stream`` is a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return os.environ.get("TERM") != "dumb" and is_terminal(stream)


def terminal_tokens(tokens, token_z, color=True, limit=2.0):
    """The question as one line for a terminal, each token with its z-score: ``what(-0.80) color(+1.20) ...``.

    With colour, each ``token(z)`` also stands on a 24-bit ANSI background of :func:`token_color` (black or
    white text); no colour with ``color=False`` or the ``NO_COLOR`` environment variable set and non-empty.
    """
    check_tokens(tokens, token_z)
    words = [f"{printable(token)}({format_z(z)})" for token, z in zip(tokens, token_z)]
    if not color or os.environ.get("NO_COLOR"):
        return " ".join(words)
    coloured = []
    for word, z in zip(words, token_z):
        background = token_color(z, limit)
        foreground = text_on(background)
        bg = ";".join(str(round(255 * c)) for c in background)
        fg = ";".join(str(round(255 * c)) for c in foreground)
        coloured.append(f"\x1b[48;2;{bg}m\x1b[38;2;{fg}m {word} \x1b[0m")
    return " ".join(coloured)


def check_tokens(tokens, token_z):
    if len(tokens) != len(token_z):
        raise FigureInputError(f"{len(tokens)} tokens but {len(token_z)} z-scores: "
                               f"pass one z-score per token")
