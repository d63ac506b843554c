"""How a user's image became the network's square input, and how every map goes back to the image.

The network sees S × S pixels (64 for the easy-VQA model, 448 for ResNet-152). An image of any other shape
is brought to that square by one of three fits:

    stretch   the whole image resized to S × S (bicubic): nothing lost, the aspect ratio changed
    pad       the image centred on a square of side max(H, W) filled with the model's mean colour
              (0 after normalisation), then resized to S × S: the aspect ratio kept, a margin added
    crop      the shorter side resized to S (bicubic), the centre S × S kept: the aspect ratio kept,
              the ends of the longer side never seen (the paper's 448 preprocessing)

The default is the model's own (``model.crop``: crop, otherwise stretch). Each fit is one box: the square the
network saw, (left, top, right, bottom) in the image's pixel coordinates (beyond the image for pad, inside
it for crop). A map on the network's grid (∇v, the heat-map, an α_g of S' × S' cells) comes back to the
image by bilinear interpolation at pixel centres (as ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False)``): image pixel x has centre X = x + ½, network coordinate u = (X − left)·S/(right −
left) − ½, and takes (1 − t)·m[⌊u⌋] + t·m[⌊u⌋ + 1] with t = u − ⌊u⌋ (indices clamped to the grid). Along each
axis that is one matrix with two non-zeros a row, so a map (C, S, S) becomes Ry · m · Rxᵀ (C, H, W) in
float32. Pixels the network never saw (outside the box: crop) get 0.
"""
import math
import numbers
from dataclasses import dataclass

import numpy

from hadamard_min.data.images import MAX_PIXELS, crop_resized, load_image, normalize, resize_exact, shorter_side_shape
from hadamard_min.explain.arguments import ExplainArgumentError, shown

FITS = ("stretch", "pad", "crop")


class FitError(ExplainArgumentError):
    """An unknown fit (a user error)."""


@dataclass(frozen=True)
class Framing:
    """Where the network's square lies on the image: ``fit``, ``box`` (left, top, right, bottom) in image pixels,
    the image's (H, W) and the network input's side S."""
    fit: str
    box: tuple
    image_size: tuple
    input_size: int

    @classmethod
    def whole(cls, height, width, input_size=None):
        """The whole image is the network's input (stretched where it is not square)."""
        return cls("stretch", (0.0, 0.0, float(width), float(height)), (int(height), int(width)),
                   int(input_size or max(height, width)))

    def note(self):
        """One line on what the network saw, e.g. 'the model saw 64×64: the 741×500 image stretched to a square'."""
        height, width = self.image_size
        seen = f"the model saw {self.input_size}×{self.input_size}"
        if (height, width) == (self.input_size, self.input_size):
            return f"{seen}: the image as given"
        if height == width:
            return f"{seen}: the {width}×{height} image resized"
        how = {"stretch": "stretched to a square (aspect ratio changed; the pad fit keeps it)",
               "pad": "padded to a square with the mean colour, then resized",
               "crop": "resized and centre-cropped to a square (the ends of the longer side unseen)"}[self.fit]
        return f"{seen}: the {width}×{height} image {how}"

    def margin_share(self, values):
        """The share of a non-negative map (S × S, on the network's grid) on cells whose centres lie off the image
        (pad's margin): mass that no map brought back to the image shows. 0 for a map without mass."""
        values = numpy.asarray(values, dtype=numpy.float64)
        height, width = self.image_size
        left, top, right, bottom = self.box
        ys = top + (numpy.arange(values.shape[0]) + 0.5) * (bottom - top) / values.shape[0]
        xs = left + (numpy.arange(values.shape[1]) + 0.5) * (right - left) / values.shape[1]
        seen = ((ys >= 0) & (ys < height))[:, None] & ((xs >= 0) & (xs < width))[None]
        total = values.sum()
        return float(values[~seen].sum() / total) if total > 0 else 0.0

    def to_json(self):
        return {"fit": self.fit, "box": [float(b) for b in self.box], "image_size": list(self.image_size),
                "input_size": self.input_size}

    @classmethod
    def from_json(cls, data):
        """The Framing that :meth:`to_json` wrote; anything else (a box of five numbers, an infinite or
        fractional size, a fit that is not text) raises ValueError naming the field, nothing is converted."""
        if not isinstance(data, dict):
            raise ValueError(f"a framing is an object, not {type(data).__name__}")
        fit, box, image_size, input_size = (data.get(key) for key in ("fit", "box", "image_size", "input_size"))

        def listed(value, count, kind):
            return isinstance(value, list) and len(value) == count and all(
                isinstance(v, kind) and not isinstance(v, bool) and math.isfinite(v) for v in value)

        for name, ok in (("fit", isinstance(fit, str)), ("box", listed(box, 4, int | float)),
                         ("image_size", listed(image_size, 2, int)), ("input_size", listed([input_size], 1, int))):
            if not ok:
                raise ValueError(f"its {name} is {data.get(name)!r:.60}")
        return cls(fit, tuple(float(b) for b in box), tuple(image_size), input_size)


def check_fit(fit):
    if fit is not None and (not isinstance(fit, str) or fit not in FITS):
        raise FitError(f"fit must be None (the model's own) or one of {', '.join(FITS)}, not {fit!r:.60}")


def frame(model, image, fit=None):
    """``(image, pixels, x, framing)``: the image as given (uint8 H×W×3), what the network sees (uint8 S×S×3),
    its normalised float input (3, S, S) and the :class:`Framing` between them."""
    check_fit(fit)
    image = load_image(image)
    fit = fit or ("crop" if model.crop else "stretch")
    size, (height, width) = model.image_size, image.shape[:2]
    if fit == "stretch":
        pixels, box = resize_exact(image, size), (0.0, 0.0, float(width), float(height))
    elif fit == "pad":  # the image resized into the square, the margin the model's mean colour: no image
        scale = size / max(height, width)  # of the long side's square is made (a 20000×1 image stays cheap)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        top, left = (size - h) // 2, (size - w) // 2
        pixels = numpy.empty((size, size, 3), numpy.uint8)
        pixels[...] = numpy.rint(255 * numpy.asarray(model.mean)).astype(numpy.uint8)
        pixels[top:top + h, left:left + w] = resize_exact(image, h, w)
        sy, sx = h / height, w / width
        box = (-left / sx, -top / sy, (size - left) / sx, (size - top) / sy)
    else:  # only the crop's window is resized (data.images.crop_resized: bounded whatever the aspect ratio)
        rows, columns = shorter_side_shape(height, width, size)
        sy, sx = rows / height, columns / width
        top, left = (rows - size) // 2, (columns - size) // 2
        pixels, box = crop_resized(image, size, size), (left / sx, top / sy, (left + size) / sx, (top + size) / sy)
    x = normalize(pixels, model.mean, model.std).astype(model.dtype)
    return image, pixels, x, Framing(fit, tuple(float(b) for b in box), (height, width), size)


def resampling_taps(cells, start, stop, extent, count):
    """R (count, cells) by its two non-zeros a row: row i samples a grid of ``cells`` cells spanning
    [start, stop) of an axis of length ``extent`` at the centre of output pixel i of ``count`` across the whole
    axis (bilinear, half-pixel). Returns (low, high, w_low, w_high): the weights of R[i, low[i]] and
    R[i, high[i]], which sum to 1 (both 0 outside what the network saw); O(count) memory, where R itself
    would take count × cells."""
    centres = (numpy.arange(count) + 0.5) * extent / count                  # X, in image pixels
    u = (centres - start) * cells / (stop - start) - 0.5                     # the grid coordinate
    low = numpy.floor(u)
    t = u - low
    low = low.astype(numpy.int64)
    inside = (u >= -0.5) & (u <= cells - 0.5)                                # outside what the network saw: 0
    return (numpy.clip(low, 0, cells - 1), numpy.clip(low + 1, 0, cells - 1),
            numpy.where(inside, 1.0 - t, 0.0), numpy.where(inside, t, 0.0))


def resample(values, axis, taps, dtype):
    """R applied along ``axis``: out[…, i, …] = w_low[i] · v[…, low[i], …] + w_high[i] · v[…, high[i], …]."""
    low, high, w_low, w_high = taps
    shape = [1] * values.ndim
    shape[axis] = len(low)
    w_low, w_high = w_low.astype(dtype).reshape(shape), w_high.astype(dtype).reshape(shape)
    out = numpy.take(values, low, axis=axis)          # in place from here: one output-sized array besides out
    out *= w_low
    high_values = numpy.take(values, high, axis=axis)
    high_values *= w_high
    out += high_values
    return out


ROWS_AT_ONCE = 64  # output rows a band of to_image's second pass computes together


def to_image(values, framing, size=None, rows=None, dtype=numpy.float32):
    """A map on the network's grid, (h, w) or (C, h, w), brought to the image: float32 (…, H, W).

    ``size`` (H', W') draws it at another resolution of the whole image (a figure's panel); ``rows`` (a
    slice) computes only those output rows, to bound memory on a large image; ``dtype`` float64 where
    the map is a result compared to 1e-10 rather than a picture.
    """
    values = numpy.asarray(values, dtype=dtype)
    height, width = size or framing.image_size
    left, top, right, bottom = framing.box
    ry = resampling_taps(values.shape[-2], top, bottom, framing.image_size[0], height)
    rx = resampling_taps(values.shape[-1], left, right, framing.image_size[1], width)
    if rows is not None:
        ry = tuple(part[rows] for part in ry)
    tall = resample(values, -2, ry, dtype)                          # R_y V: (…, H, w), small beside the image
    out = numpy.empty(tall.shape[:-1] + rx[0].shape, dtype=dtype)
    for top in range(0, tall.shape[-2], ROWS_AT_ONCE):               # then (R_y V) R_xᵀ, a band of rows at a time:
        band = slice(top, top + ROWS_AT_ONCE)                        # no image-sized temporary besides the output
        out[..., band, :] = resample(tall[..., band, :], -1, rx, dtype)
    return out


def real_array(values):
    """``values`` as an array of real numbers (bool, int or float), or None (a string, a ragged list, complex)."""
    try:
        array = None if isinstance(values, str | bytes) else numpy.asarray(values)
    except (ValueError, TypeError):  # a ragged list
        return None
    return array if array is not None and array.dtype.kind in "biuf" else None


def checked_map(values, size=None):
    """``values`` as a real array (h, w) or (C, h, w) finite in float32, and ``size`` None or (H', W') whole
    numbers ≥ 1 of at most ``MAX_PIXELS`` pixels as a tuple: what :func:`to_image` can draw (in float32);
    ``ExplainArgumentError`` else."""
    array = real_array(values)
    if array is None or array.ndim not in (2, 3) or 0 in array.shape or not numpy.isfinite(array).all() \
            or numpy.abs(array).max() > numpy.finfo(numpy.float32).max:
        raise ExplainArgumentError(f"a map must be a real array (h, w) or (C, h, w), finite in float32, e.g. "
                                   f"e.heatmap, not {shown(values)}")
    if size is None:
        return array, None
    if not (isinstance(size, tuple | list) and len(size) == 2 and all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in size)) \
            or size[0] * size[1] > MAX_PIXELS:
        raise ExplainArgumentError(f"size must be (height, width), whole numbers ≥ 1 of at most {MAX_PIXELS:,} "
                                   f"pixels, not {shown(size)}")
    return array, (int(size[0]), int(size[1]))
