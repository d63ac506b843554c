"""Maps as pictures: the standardised gradient as RGB, clipped scales, colour maps, blends, maps saved as PNG.

* ∇v as RGB is the paper's picture: the standardised gradient (eq. 9, mean 0 and std 1 per channel)
  mapped linearly so that ±``spread`` standard deviations span [0, 1] (:func:`pixel_map_to_rgb`).
* A magnitude (a heat-map, α_g) is drawn with the one-hue ``magma`` (black → purple → yellow, perceptually
  uniform), a signed map with the diverging ``RdBu_r`` centred at 0 (blue < 0 < red).
* Scales are clipped as Captum's ``visualize_image_attr(outlier_perc=2)``: the largest values that make up
  ``outlier_perc`` % of the map's total |mass| all get the full colour, so that a few pixels do not
  decide the scale of all others (:func:`outlier_threshold`). ``outlier_perc=0`` scales by the maximum.
* A map over an image is blended where it is strong only: weight w = alpha · m per pixel (m in [0, 1]),
  out = (1 − w) · image + w · colour(m), so the image keeps its own colours where the map is weak.
* A map is saved as an 8-bit PNG, written atomically (:mod:`hadamard_min.io.atomic`).

Nothing here imports matplotlib until a colour map is needed (``import hadamard_min`` stays light).
"""
import numbers

import numpy
from PIL import Image

from hadamard_min.explain.framing import to_image
from hadamard_min.io.atomic import write_atomically

MAGNITUDE_CMAP = "magma"
SIGNED_CMAP = "RdBu_r"
OUTLIER_PERC = 2.0
OVERLAY_ALPHA = 0.75
MAP_ROWS = 256  # rows resampled at a time when a map is written at the image's size


class FigureInputError(ValueError):
    """The arrays or lists given to a figure function do not fit together."""


def pixel_map_to_rgb(pixel_map, spread=3.0):
    """The standardised gradient (3, H, W) as an RGB picture (H, W, 3) in [0, 1].

    rgb = clip(p / (2·spread) + 0.5, 0, 1): 0 → 0.5 (grey), +spread σ → 1, −spread σ → 0. The original
    code added 0.5 to the standardised map and let the image writer clip; ``spread`` = 3 keeps ±3σ.
    """
    pixel_map = numpy.asarray(pixel_map, dtype=numpy.float64)
    if pixel_map.ndim != 3 or pixel_map.shape[0] != 3:
        raise FigureInputError(f"pixel_map must have shape (3, H, W), got {pixel_map.shape}")
    return numpy.clip(pixel_map / (2.0 * spread) + 0.5, 0.0, 1.0).transpose(1, 2, 0)


def upsample_nearest(grid, height, width):
    """Nearest-neighbour upsampling of an (S, S') map to (height, width).

    Output pixel (y, x) takes cell (⌊y·S/height⌋, ⌊x·S'/width⌋); when height = k·S every cell becomes a
    k×k block, as the original code's 14 → 448 upsampling.
    """
    grid = numpy.asarray(grid)
    rows = numpy.arange(height) * grid.shape[0] // height
    cols = numpy.arange(width) * grid.shape[1] // width
    return grid[rows[:, None], cols[None, :]]


def check_outlier_perc(outlier_perc):
    if not isinstance(outlier_perc, numbers.Real) or isinstance(outlier_perc, bool) or not 0 <= outlier_perc < 100:
        raise FigureInputError(f"outlier_perc must be a number in [0, 100), not {outlier_perc!r:.40}")


def outlier_threshold(values, outlier_perc=OUTLIER_PERC):
    """Captum's scale t for |values|: the smallest |v| at which the cumulative sum of the sorted |values|
    reaches (100 − outlier_perc) % of their total. Values at or above t are shown at full colour; a zero
    map gives t = 0."""
    check_outlier_perc(outlier_perc)
    ordered = numpy.sort(numpy.abs(numpy.asarray(values, dtype=numpy.float64)), axis=None)
    sums = numpy.cumsum(ordered)
    if ordered.size == 0 or sums[-1] <= 0:
        return 0.0
    return float(ordered[numpy.argmax(sums >= sums[-1] * (100.0 - outlier_perc) / 100.0)])


def clipped(values, outlier_perc=OUTLIER_PERC, signed=False):
    """``values / t`` clipped to [0, 1] (a magnitude) or [−1, 1] (``signed``), t = :func:`outlier_threshold`;
    float32. A zero map stays zero."""
    threshold = outlier_threshold(values, outlier_perc)
    values = numpy.asarray(values, dtype=numpy.float32)
    if threshold == 0:
        return numpy.zeros_like(values)
    return numpy.clip(values / numpy.float32(threshold), -1.0 if signed else 0.0, 1.0)


def blend(image, strength, alpha=OVERLAY_ALPHA, cmap=MAGNITUDE_CMAP):
    """uint8 (H, W, 3): ``strength`` (H, W) in [0, 1] coloured by ``cmap`` over ``image`` (uint8 (H, W, 3)),
    weight alpha · strength per pixel (the image shows through where the map is weak)."""
    from matplotlib import colormaps

    weight = (numpy.float32(alpha) * strength)[..., None]
    colours = 255.0 * colormaps[cmap](strength, bytes=False)[..., :3].astype(numpy.float32)
    mixed = (1.0 - weight) * image.astype(numpy.float32) + weight * colours
    return numpy.clip(numpy.rint(mixed), 0, 255).astype(numpy.uint8)


def normalised(values):
    """Min-max scaling to [0, 1]; a constant map becomes zeros."""
    values = numpy.asarray(values, dtype=numpy.float64)
    low, high = float(values.min()), float(values.max())
    return numpy.zeros_like(values) if high <= low else (values - low) / (high - low)


def _to_uint8(array, normalize):
    """uint8 copy of a map: uint8 as is, bool → 0/255, floats in [0, 1] → round(255·x).

    Floats outside [0, 1] need ``normalize=True`` (min-max scaling first), so nothing is clipped silently.
    """
    array = numpy.asarray(array)
    if array.dtype == numpy.uint8:
        return array
    if array.dtype == numpy.bool_:
        return array.astype(numpy.uint8) * 255
    values = normalised(array) if normalize else array.astype(numpy.float64)
    if not numpy.all(numpy.isfinite(values)) or values.min() < 0.0 or values.max() > 1.0:
        raise FigureInputError(f"map values span [{array.min():.3g}, {array.max():.3g}], not [0, 1]: "
                               f"pass normalize=True or scale the map first")
    return numpy.round(values * 255.0).astype(numpy.uint8)


def save_map_png(path, array, normalize=False):
    """Save one map as a PNG: (H, W) grayscale, or (1, H, W) / (3, H, W) / (H, W, 3) channels.

    uint8 is written as is; floats must lie in [0, 1] (written as round(255·x)) unless ``normalize=True``,
    which min-max scales the whole array first (use it for α or a heat-map; use :func:`pixel_map_to_rgb`
    for the standardised gradient). Returns the path.
    """
    array = numpy.asarray(array)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise FigureInputError(f"a map must be (H, W), (1, H, W), (3, H, W) or (H, W, 3), got {array.shape}")
    image = Image.fromarray(_to_uint8(array, normalize))
    return write_atomically(path, lambda stream: image.save(stream, format="PNG"))


def save_map_at_image(path, values, framing):
    """A map in [0, 1] on the network's grid, (h, w) or (3, h, w), saved as an 8-bit PNG at the image's size.

    Each pixel is the bilinear value at the image pixel (:func:`framing.to_image`), written as round(255·x);
    rows are resampled ``MAP_ROWS`` at a time, so a 64-megapixel image never holds a float map at full size.
    Returns the path.
    """
    values = numpy.asarray(values, dtype=numpy.float32)
    height, width = framing.image_size
    out = numpy.empty((height, width, 3) if values.ndim == 3 else (height, width), numpy.uint8)
    for top in range(0, height, MAP_ROWS):
        strip = to_image(values, framing, rows=slice(top, top + MAP_ROWS))
        strip = strip.transpose(1, 2, 0) if values.ndim == 3 else strip
        out[top:top + MAP_ROWS] = numpy.rint(255.0 * numpy.clip(strip, 0.0, 1.0))
    return save_map_png(path, out)
