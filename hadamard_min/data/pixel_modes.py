"""A decoded image of any PIL mode as RGB uint8, in integers, a band of rows at a time.

Gray and palette images become gray/palette RGB; 16-bit gray (``I;16``, ``I``) is scaled to 8 bits by
``round(v / 257)``; transparent images (an alpha channel, or the one colour a palette, gray or RGB image's
``transparency`` names: PNG's tRNS) are composited on white, as viewers show them; CMYK and the other modes
by Pillow's own conversion. A mask (:func:`to_mask`) is read by its stored values instead.
"""
import numpy

SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "PA")  # and "La", L premultiplied by alpha (``to_rgb``)


def to_rgb(img):
    """RGB uint8 of a decoded image, in integers, a band of rows at a time: at most a few bytes per pixel
    beyond the image itself, whatever its mode."""
    if img.mode == "La":  # L premultiplied by alpha: L·a + 255·(1 − a) is the stored value + 255 − a
        la = numpy.asarray(img).astype(numpy.int16)
        return numpy.repeat(numpy.clip(la[:, :, :1] + 255 - la[:, :, 1:], 0, 255).astype(numpy.uint8), 3, axis=2)
    if img.mode in SIXTEEN_BIT_MODES:
        values = numpy.asarray(img)  # uint16, or int32 for "I"
        gray = numpy.empty(values.shape, numpy.uint8)
        key = img.info.get("transparency")  # tRNS: the one 16-bit value that is transparent (Pillow ignores it)
        for rows in bands(values.shape):  # round(v / 257) = (v + 128) // 257: 257 is odd, never a tie
            gray[rows] = (numpy.clip(values[rows], 0, 65535).astype(numpy.int32) + 128) // 257
            if isinstance(key, int):
                gray[rows][values[rows] == key] = 255  # on white
        return numpy.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ALPHA_MODES or "transparency" in img.info:
        rgba = numpy.asarray(img.convert("RGBA"))
        rgb = numpy.empty(rgba.shape[:2] + (3,), numpy.uint8)
        for rows in bands(rgba.shape):
            # round((rgb·a + 255·(255 − a)) / 255) in 16-bit integers: the sum is at most 255², never a tie
            band = rgba[rows].astype(numpy.uint16)
            alpha = band[:, :, 3:]
            rgb[rows] = (band[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
        return rgb
    return numpy.array(img if img.mode == "RGB" else img.convert("RGB"), dtype=numpy.uint8)


def bands(shape, pixels=1 << 20):
    """Slices of the rows of an image of ``shape`` (H, W, …), about ``pixels`` pixels each (at least one row)."""
    step = max(1, pixels // max(1, shape[1]))
    return [slice(start, start + step) for start in range(0, shape[0], step)]


def to_mask(img):
    """(H, W, 1) bool of a decoded mask: its pixels that are neither black nor transparent, by the stored values.

    Not :func:`to_rgb`'s view: there a 16-bit mask of 0 and 1 rounds to black (no object at all), and a
    transparent background composited on white becomes object (the whole image)."""
    if img.mode in SIXTEEN_BIT_MODES:
        values = numpy.asarray(img)
        key = img.info.get("transparency")
        return ((values != 0) & (values != key if isinstance(key, int) else True))[:, :, None]
    if img.mode in (*ALPHA_MODES, "La") or "transparency" in img.info:
        rgba = numpy.asarray(img.convert("RGBA"))
        return ((rgba[:, :, :3].max(axis=2) > 0) & (rgba[:, :, 3] > 0))[:, :, None]
    return to_rgb(img).max(axis=2, keepdims=True) > 0
