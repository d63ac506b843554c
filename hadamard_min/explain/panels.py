"""One panel of an explanation's figure: the image as given, a map over it with its colour bar, the signed map.

Every panel shows the whole image as the user gave it, at its own aspect ratio. A map lives on the network's
grid (S × S, or the S' × S' attention cells); it is brought to the panel by :func:`framing.to_image`
(bilinear) at a display resolution of at most ``DISPLAY_PX`` pixels on the longer side (a 64-megapixel
photograph is not resampled at full size to fill a 300-pixel panel), and drawn over the image with
:func:`maps.blend`. Scales are clipped as :func:`maps.outlier_threshold` says; each map's colour bar
shows the values its colours stand for, and the note under the panel says how it was scaled.
"""
import contextlib
import warnings

import numpy
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from PIL import Image

from hadamard_min.data.images import REDUCING_GAP
from hadamard_min.explain.framing import to_image
from hadamard_min.explain.maps import MAGNITUDE_CMAP, SIGNED_CMAP, blend, outlier_threshold
from hadamard_min.io.atomic import utf8_safe

DISPLAY_PX = 600  # the longest side a map is resampled to for a figure (2 × a 2-inch panel at 150 dpi)


def display_size(framing):
    """(h, w) of a panel's pixels: the image's size scaled so that the longer side is DISPLAY_PX."""
    height, width = framing.image_size
    scale = DISPLAY_PX / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def display_image(image, size):
    """The image resampled to ``size`` (h, w) for blending (Lanczos: antialiased when it shrinks). Pillow's table
    of kernel weights grows with the ratio of the sides (6·ratio + 1 weights per pixel: 1 GB for a 1 × 20,000,000
    image shown 600 wide), so a ratio over 2 × ``REDUCING_GAP`` first averages blocks (as the network's input is)."""
    if image.shape[:2] == size:
        return image
    return numpy.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.LANCZOS,
                                                       reducing_gap=REDUCING_GAP))


@contextlib.contextmanager
def missing_glyphs_blank():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        yield


def text_width_pt(text, size, weight="normal"):
    with missing_glyphs_blank():
        width, _, _ = text_to_path.get_text_width_height_descent(
            utf8_safe(text), FontProperties(size=size, weight=weight), ismath=False)
    return width


def fitted(text, width_pt, size):
    """``text`` whole if it fits in ``width_pt`` points at ``size``, else so much of it replaced by "…", a
    third of what is kept before it and two after (a long file name keeps its start, its extension and what
    follows), that it does: no title runs over its neighbours'."""
    if text_width_pt(text, size) <= width_pt:
        return text
    low, high = 0, len(text)  # the most characters kept that fit, found by bisection
    while low < high:
        kept = (low + high + 1) // 2
        if text_width_pt(_elided(text, kept), size) <= width_pt:
            low = kept
        else:
            high = kept - 1
    return _elided(text, low)


def _elided(text, kept):
    head = kept // 3
    return f"{text[:head]}…{text[len(text) - (kept - head):]}"


def finish(ax, title, note=None):
    """A panel's title and note as plain text: a file name's ``$`` is no formula, a byte not UTF-8 is U+FFFD."""
    ax.set_title(utf8_safe(title), fontsize=10, parse_math=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if note:
        ax.set_xlabel(utf8_safe(note), fontsize=7, color="0.3", parse_math=False)


def colour_bar(fig, cax, low, high, cmap, label, ax=None):
    """A colour bar of ``cmap`` over [low, high] in ``cax`` (horizontal), or beside ``ax``."""
    mappable = ScalarMappable(Normalize(low, high), cmap)
    if cax is None:
        bar = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03)
    else:
        bar = fig.colorbar(mappable, cax=cax, orientation="horizontal")
    bar.ax.tick_params(labelsize=6, length=2, pad=1)
    bar.set_label(label, fontsize=7, labelpad=1 if cax is not None else 4)
    return bar


def image_panel(ax, image, framing):
    """The image as given: its own pixels when it fits the panel, resampled to DISPLAY_PX when larger."""
    height, width = framing.image_size
    shown = image if max(height, width) <= DISPLAY_PX else display_image(image, display_size(framing))
    ax.imshow(shown, extent=(0, width, height, 0), interpolation="antialiased")
    finish(ax, "input", f"{width}×{height}, model saw {framing.input_size}×{framing.input_size} ({framing.fit})")


def magnitude_panel(ax, cax, image, values, framing, title, note, outlier_perc):
    """A non-negative map over the image: magma, clipped at its outlier threshold t, colour bar 0 … t."""
    size = display_size(framing)
    threshold = outlier_threshold(values, outlier_perc)
    shown = to_image(values, framing, size)
    strength = numpy.zeros_like(shown) if threshold == 0 else numpy.clip(shown / numpy.float32(threshold), 0, 1)
    height, width = framing.image_size
    ax.imshow(blend(display_image(image, size), strength), extent=(0, width, height, 0))
    finish(ax, title, note)
    colour_bar(ax.figure, cax, 0.0, threshold or 1.0, MAGNITUDE_CMAP, _scale_label(outlier_perc), ax=ax)


def grid_magnitude_panel(ax, values, outlier_perc):
    """A non-negative map alone (a report's grid, hadamard-saliency): magma over 0 … t, t its outlier
    threshold, with the same colour bar as :func:`magnitude_panel`, so that a reader can tell its scale."""
    threshold = outlier_threshold(values, outlier_perc) or 1.0  # a zero map: all dark under a bar of 0 … 1
    ax.imshow(numpy.asarray(values, dtype=numpy.float32), cmap=MAGNITUDE_CMAP, vmin=0.0, vmax=threshold)
    colour_bar(ax.figure, None, 0.0, threshold, MAGNITUDE_CMAP, _scale_label(outlier_perc), ax=ax)


def signed_panel(ax, cax, values, framing, title, outlier_perc):
    """A signed map alone: RdBu_r centred at 0, ±t with t its outlier threshold of |values|."""
    threshold = outlier_threshold(values, outlier_perc) or 1.0
    height, width = framing.image_size
    ax.imshow(to_image(values, framing, display_size(framing)), cmap=SIGNED_CMAP, vmin=-threshold,
              vmax=threshold, extent=(0, width, height, 0))
    finish(ax, title, "blue < 0 < red")
    colour_bar(ax.figure, cax, -threshold, threshold, SIGNED_CMAP, _scale_label(outlier_perc), ax=ax)


def rgb_panel(ax, rgb, framing, title):
    """The paper's picture of ∇v, an (S, S, 3) RGB array on the network's grid, placed on the image."""
    size = display_size(framing)
    height, width = framing.image_size
    ax.imshow(numpy.clip(to_image(rgb.transpose(2, 0, 1), framing, size), 0, 1).transpose(1, 2, 0),
              extent=(0, width, height, 0))
    finish(ax, title, "±3σ → [0, 1] per channel")


def _scale_label(outlier_perc):
    return f"top {outlier_perc:g} % of mass clipped" if outlier_perc else "scaled to the maximum"


def plot_into(ax, explanation, framing, map_label, outlier_perc, title=None):
    """The heat-map over the image in a user's ``ax``, titled ``title`` (default: the map and the answer),
    colour bar beside."""
    e = explanation
    title = f"{map_label} · {e.answer} (p = {e.probability:.2f})" if title is None else title
    magnitude_panel(ax, None, e.image, e.heatmap, framing, title, None, outlier_perc)
    return ax
