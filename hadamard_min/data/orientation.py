"""A photograph's EXIF orientation: the turn a camera records in the file instead of turning the pixels.

A viewer shows the pixels turned upright; a question about "the left" means the left of what the viewer
shows, so the file's pixels are turned the same way before anything else reads them (as Pillow's
``ImageOps.exif_transpose``, here on the decoded array: no second copy through Pillow).
"""
import numpy

ORIENTATION_TAG = 0x0112  # EXIF "Orientation": 1 upright, 2–8 the seven other flips and turns


def orientation(img):
    """The EXIF orientation (1–8) an opened image file records; 1 when it records none, or none readable."""
    try:
        value = img.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block: the pixels as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright(pixels, value):
    """(H, W, C) pixels as stored → as a viewer shows them, for orientation ``value``."""
    turned = {1: pixels, 2: pixels[:, ::-1], 3: pixels[::-1, ::-1], 4: pixels[::-1],
              5: pixels.transpose(1, 0, 2), 6: numpy.rot90(pixels, -1), 7: pixels[::-1, ::-1].transpose(1, 0, 2),
              8: numpy.rot90(pixels, 1)}[value]
    return turned if value == 1 else numpy.ascontiguousarray(turned)
