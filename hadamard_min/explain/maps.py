"""Maps as pictures: the standardised gradient as RGB, nearest-neighbour upsampling, maps saved as PNG.

* ∇v as RGB is the paper's picture: the standardised gradient (eq. 9, mean 0 and std 1 per channel)
  mapped linearly so that ±``spread`` standard deviations span [0, 1] (:func:`pixel_map_to_rgb`).
* α_g (S×S) is upsampled nearest-neighbour to the image (each cell a block of H/S × W/S pixels).
* A map is saved as an 8-bit PNG, written atomically (:mod:`hadamard_min.io.atomic`).
"""
import numpy
from PIL import Image

from hadamard_min.io.atomic import write_atomically

MAP_CMAP = "jet"


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
