"""Images in, arrays out: loading any common image as RGB uint8, and the network's preprocessing.

The ResNet preprocessing (as in the original MLB code):

    resize the shorter side to ``size`` (bicubic)  ->  centre-crop ``size × size``
    ->  x = pixel / 255  ->  x_c = (x_c - mean_c) / std_c  ->  float32 (3, size, size)

Small models (easy-VQA, 64×64 images) skip the crop and resize the whole image (:func:`resize_exact`).

A file is an untrusted input. What is opened must be a regular file, checked before a byte is read (a pipe
swapped in for the file is refused, not waited on). It is opened only as one of ``FORMATS``, each decoded by
Pillow's own code: no other format is tried, so a PostScript, EPS or PDF file (whatever its name) never
reaches Ghostscript or any program outside Python. Its size in pixels is read from the header and refused
above ``MAX_PIXELS`` before anything is decoded, and any failure of the decoder (a truncated or crafted file,
Pillow's decompression-bomb check) is an :class:`ImageError` that names the file (Pillow's warnings are
not printed: the file decodes or is refused). A photograph is turned upright by its EXIF orientation.

A resize holds only what its output shows (the crop's preimage and the filter's support) and no intermediate
over ``MAX_RESIZE_PIXELS``: a 20000×1 image costs its own pixels, not the 5,120,000×256 of a shorter side at 256.
"""
import math
import os
import warnings
from pathlib import Path

import numpy
from PIL import Image

from hadamard_min.data import frames
from hadamard_min.data.orientation import orientation, upright
from hadamard_min.data.pixel_modes import to_mask, to_rgb
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import open_regular

MAX_PIXELS = 8192 * 8192  # the largest image read: 64 Mpx (Pillow itself warns from 89 Mpx)
MAX_RESIZE_PIXELS = 1 << 24  # the largest intermediate of a resize: 16 Mpx (64 MB)
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # the only formats opened (Pillow's names)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

REDUCING_GAP = 64.0  # see _pass
_BICUBIC_SUPPORT = 2.0  # Pillow's bicubic kernel is zero beyond ±2 input pixels (± 2·scale when shrinking)


class ImageError(ValueError):
    """An image cannot be read or has the wrong shape/type."""


def load_image(source):
    """RGB uint8 array (H, W, 3) from a path, a ``PIL.Image`` or a uint8 array (H, W[, 1–4 channels]).

    A file must be one of ``FORMATS`` (PNG, JPEG, GIF, BMP, TIFF, WebP, PPM), and so must a PIL image
    opened from a file (convert any other first: ``image.convert("RGB")``).

    Conversions: grayscale and palette images become gray/palette RGB; 16-bit images (``I;16``, ``I``) are
    scaled to 8 bits by ``round(v / 257)`` (65535 → 255, no clipping of the range); CMYK uses Pillow's
    conversion; transparent images (alpha channel or a palette/tRNS transparency) are composited **on white**,
    ``rgb · a + 255 · (1 − a)``, as viewers show them; a file's or PIL image's EXIF orientation turns the
    pixels upright (as ``ImageOps.exif_transpose``). Floating-point images (mode ``F``) are refused. Of several
    frames (an animation, a multi-page TIFF) one is read, and a :class:`frames.FramesWarning` says which, lest it
    be taken for the file's: a file's first; a PIL image's current one (``image.seek``: chosen)."""
    pixels, message = read_noted(source)
    frames.warn(message)
    return pixels


def read_noted(source, mask=False):
    """:func:`load_image` (``mask``: :func:`load_mask`, a path only) without its warning: ``(pixels, note)``, the
    note the warning would say or None. For a caller that tells the user otherwise (a folder's one summary)."""
    if isinstance(source, (str, os.PathLike)):
        if not os.fspath(source):  # pathlib would read "" as ".", the current folder
            raise ImageError(f"the {'mask' if mask else 'image'} path is empty: give an image file's path")
        try:
            pixels, message = _load_path(Path(os.fsdecode(os.fspath(source))), to_mask if mask else to_rgb)
            return (pixels[:, :, 0] if mask else pixels), message
        except OSError as error:  # a name the system refuses (too long, a NUL byte): no such image
            raise ImageError(f"cannot read {'mask' if mask else 'image'} {source}: {error.strerror or error}") from None
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", "") or "<PIL image>"
        if source.format not in (None, *FORMATS, "MPO"):  # MPO: a camera's JPEG, opened by the JPEG decoder
            raise ImageError(f"image {name} is {source.format}, not a format read here ({_FORMAT_NAMES}): "
                             f"convert it first, image.convert('RGB')")
        message = frames.note(name, frames.frame_count(source), source.tell())
        return upright(_decoded_rgb(source, name), orientation(source)), message
    if isinstance(source, numpy.ndarray):  # a subclass (numpy.matrix, a masked array) as the plain array
        return _checked_array(numpy.asarray(source)), None
    raise ImageError(f"cannot use a {type(source).__name__} as an image: pass a file path, a PIL image "
                     f"or a uint8 array")


_FORMAT_NAMES = "PNG, JPEG, GIF, BMP, TIFF, WebP or PPM"


def load_mask(path):
    """An object mask's file as bool (H, W), upright: its pixels neither black nor transparent, read from the
    stored values (``pixel_modes.to_mask``) with every check of :func:`load_image` (a first frame's, said)."""
    mask, message = read_noted(Path(os.fsdecode(os.fspath(path))), mask=True)
    frames.warn(message)
    return mask


def _load_path(path, convert=to_rgb):
    if path.is_dir():
        raise ImageError(f"image {path} is a folder, not an image file; give the image's path")
    if not path.exists():  # a pipe or a device is refused by open_regular, by name
        if path.is_symlink():  # `ls` lists it: "not found" would puzzle
            raise ImageError(f"image {path} is a symbolic link that leads to no file (a loop, or a missing target)")
        raise ImageError(f"image not found: {path}")
    try:  # the type of what is opened, checked before a byte is read (the path may have changed since)
        file = open_regular(path)
    except WeightsError as error:
        raise ImageError(f"image {error}") from None
    with file, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.init()  # every plugin registered, then only FORMATS this Pillow reads (one without WebP has none)
        try:
            img = Image.open(file, formats=[name for name in FORMATS if name in Image.OPEN])  # no other is tried
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own, larger limit
            raise ImageError(f"image {path} is too large: it declares more than the {MAX_PIXELS:,} pixels read at "
                             f"most; scale it down first") from None
        except MemoryError:
            raise
        except Image.UnidentifiedImageError:
            raise ImageError(f"cannot read image {path}: not an image file or truncated (the formats read: "
                             f"{_FORMAT_NAMES})") from None
        except Exception as exc:  # a decoder's failure on an untrusted file: the file's fault
            raise ImageError(f"cannot read image {path}: not an image file or truncated "
                             f"({type(exc).__name__}: {exc})") from None
        with img:
            message = frames.first_frame(img, path, mask=convert is to_mask)  # on it, and a note if others
            return upright(_decoded_rgb(img, path, convert), orientation(img)), message  # upright: EXIF


def _decoded_rgb(img, name, convert=to_rgb):
    """Check the size, decode fully (so truncation is detected now, not later) and convert to RGB uint8."""
    if img.mode == "F":
        raise ImageError(f"image {name} holds floating-point pixels (PIL mode F), with no scale to read them "
                         f"by: scale them to 0–255 first, Image.fromarray((array * 255).round().astype('uint8'))")
    width, height = img.size
    if width == 0 or height == 0:  # a PIL image can be 0×0 (Image.new); a file that says so is refused as well
        raise ImageError(f"image {name} is empty ({width}×{height} pixels)")
    if width * height > MAX_PIXELS:
        raise ImageError(f"image {name} has {width}×{height} = {width * height:,} pixels, more than the "
                         f"{MAX_PIXELS:,} read at most; scale it down first")
    failure = "not an image file or truncated"  # while decoding; then while converting
    try:
        img.load()
        failure = f"its mode {img.mode} does not convert to RGB"
        return convert(img)
    except MemoryError:
        raise
    except Exception as exc:
        if (getattr(img, "fp", "") is None and getattr(img, "tile", None)) or "closed image" in str(exc):
            raise ImageError(f"the PIL image {name} is closed (image.close(), or its `with Image.open(…)` block "
                             f"ended) and its pixels are gone: pass it while it is open, or its path") from None
        raise ImageError(f"cannot read image {name}: {failure} ({type(exc).__name__}: {exc})") from None


def _checked_array(array):
    if array.dtype != numpy.uint8:
        raise ImageError(f"an image array must be uint8, not {array.dtype}: convert with "
                         f"(array * 255).round().astype('uint8') or load the file instead")
    if array.ndim in (2, 3) and array.shape[0] * array.shape[1] > MAX_PIXELS:  # as a file's header is checked
        raise ImageError(f"the image array has {array.shape[0]}×{array.shape[1]} = {array.shape[0] * array.shape[1]:,} "
                         f"pixels, more than the {MAX_PIXELS:,} read at most; scale it down first")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):  # gray
        array = numpy.repeat(array.reshape(array.shape[:2] + (1,)), 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (2, 3, 4):
        last = ": channels go last, array.transpose(1, 2, 0)" if array.ndim == 3 and array.shape[0] in (3, 4) else ""
        raise ImageError(f"an image array must have shape (H, W) or (H, W, 1–4), not {array.shape}{last}")
    if min(array.shape[:2]) == 0:
        raise ImageError(f"the image array is empty (shape {array.shape})")
    if array.shape[2] != 3:  # gray or RGB with alpha: composited on white, as a PIL image's
        return to_rgb(Image.fromarray(numpy.ascontiguousarray(array)))
    return numpy.array(array, order="C")  # a copy: what is returned never shares the caller's memory


def _span(start, stop, count, length):
    """The input pixels ``[lo, hi)`` that a bicubic resize of ``[start, stop)`` to ``count`` pixels reads."""
    reach = _BICUBIC_SUPPORT * max((stop - start) / count, 1.0) + 1
    return max(0, math.floor(start - reach)), min(length, math.ceil(stop + reach))


def _bicubic(image, width, height, box=None):
    """Bicubic resize of ``box`` = (left, top, right, bottom), in pixels, of the uint8 HWC ``image`` (default:
    all of it) to ``width × height``.

    Only the pixels the kernel reads are copied. Pillow resizes in two passes, rows or columns first, with one
    intermediate between them; where one order's would be over ``MAX_RESIZE_PIXELS`` (a long thin image), the
    passes are made one at a time, in the order whose intermediate is smaller: under that bound for every
    output up to 1024 × 1024 (a network's input), as the input has at most ``MAX_PIXELS`` = 2¹⁰ · 2¹⁶ pixels.
    """
    if width * height > MAX_PIXELS:
        raise ImageError(f"resizing to {width}×{height} = {width * height:,} pixels: more than the "
                         f"{MAX_PIXELS:,} an image may have")
    rows, columns = image.shape[:2]
    left, top, right, bottom = box or (0, 0, columns, rows)
    x0, x1 = _span(left, right, width, columns)
    y0, y1 = _span(top, bottom, height, rows)
    part = Image.fromarray(numpy.ascontiguousarray(image[y0:y1, x0:x1]))
    (left, right), (top, bottom) = (left - x0, right - x0), (top - y0, bottom - y0)
    if max(width * (y1 - y0), (x1 - x0) * height) <= MAX_RESIZE_PIXELS:  # either order is small: Pillow's
        return numpy.asarray(_pass(part, (width, height), (left, top, right, bottom)))
    if width * (y1 - y0) <= (x1 - x0) * height:  # rows first
        part = _pass(part, (width, y1 - y0), (left, 0, right, y1 - y0))
        return numpy.asarray(_pass(part, (width, height), (0, top, width, bottom)))
    part = _pass(part, (x1 - x0, height), (0, top, x1 - x0, bottom))  # columns first
    return numpy.asarray(_pass(part, (width, height), (left, 0, right, height)))


def _pass(image, size, box):
    """One pass of :func:`_bicubic` (``box`` spans all of ``image`` on the other axis). Pillow's table of
    kernel weights grows with the ratio (4·ratio + 1 weights per output pixel): a ratio over 2 × REDUCING_GAP
    first averages blocks of ``⌊ratio / REDUCING_GAP⌋`` pixels (``Image.reduce``)."""
    return image.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=REDUCING_GAP)


def shorter_side_shape(height, width, size):
    """``(H', W')`` of an image resized so that its shorter side is ``size`` (the aspect ratio kept, rounded)."""
    scale = size / min(height, width)
    return max(size, round(height * scale)), max(size, round(width * scale))


def resize_shorter_side(image, size):
    """Bicubic resize so that the shorter side is ``size``; the aspect ratio is kept (rounded).

    The whole resized image: refused above ``MAX_PIXELS`` (a 20000×1 image to 256 would be 5,120,000×256);
    the network's picture comes from :func:`crop_resized`, which resizes only its crop.
    """
    image = load_image(image)
    height, width = shorter_side_shape(*image.shape[:2], size)
    return _bicubic(image, width, height)


def center_crop(image, size):
    """The central ``size × size`` window of an HWC image at least that large."""
    height, width = image.shape[:2]
    if min(height, width) < size:
        raise ImageError(f"cannot crop {size}×{size} from a {height}×{width} image: resize it first")
    top, left = (height - size) // 2, (width - size) // 2
    return image[top:top + size, left:left + size]


def crop_resized(image, shorter, size):
    """``center_crop(resize_shorter_side(image, shorter), size)``, resizing only the part the crop shows.

    A resized image over ``MAX_RESIZE_PIXELS`` is never made: the crop's window in it, mapped back to the
    input (a scale of ``H / H'`` and ``W / W'`` on each axis), is the box that is resized, the same picture
    up to rounding, in memory bounded by ``size × size`` and the input, whatever the aspect ratio.
    """
    image = load_image(image)
    if size > shorter:
        raise ImageError(f"cannot crop {size}×{size} from an image whose shorter side is {shorter}")
    rows, columns = image.shape[:2]
    height, width = shorter_side_shape(rows, columns, shorter)
    if height * width <= MAX_RESIZE_PIXELS:  # small enough to resize whole: exactly the crop of the whole
        return center_crop(_bicubic(image, width, height), size)
    top, left = (height - size) // 2, (width - size) // 2
    box = (left * columns / width, top * rows / height, (left + size) * columns / width,
           (top + size) * rows / height)
    return _bicubic(image, size, size, box)


def resize_exact(image, size, width=None):
    """Bicubic resize of the whole image to ``size × size``, or ``size × width`` (no crop; the aspect ratio may
    change)."""
    image = load_image(image)
    width = size if width is None else width
    if image.shape[:2] == (size, width):
        return image
    return _bicubic(image, width, size)


def normalize(image, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """uint8 HWC → float32 CHW, ``(pixel / 255 − mean_c) / std_c``."""
    x = image.astype(numpy.float32) / 255.0
    x = (x - numpy.asarray(mean, dtype=numpy.float32)) / numpy.asarray(std, dtype=numpy.float32)
    return numpy.ascontiguousarray(x.transpose(2, 0, 1))


def fit(image, size, crop=True):
    """The uint8 (size, size, 3) picture the network sees, from anything :func:`load_image` accepts.

    ``crop=True``: shorter side to ``size`` (bicubic), then the centre ``size × size`` (the paper's pipeline
    at 448; :func:`crop_resized`). ``crop=False``: the whole image resized to ``size × size`` (:func:`resize_exact`).
    """
    return crop_resized(image, size, size) if crop else resize_exact(image, size)


def preprocess(image, size=448, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop=True):
    """Network input float32 (3, size, size): :func:`fit`, then ImageNet normalisation."""
    return normalize(fit(image, size, crop), mean, std)


def deprocess(chw, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Inverse of :func:`normalize` for display: float CHW → uint8 HWC (rounded, clipped to 0..255)."""
    x = numpy.asarray(chw, dtype=numpy.float32).transpose(1, 2, 0)
    x = x * numpy.asarray(std, dtype=numpy.float32) + numpy.asarray(mean, dtype=numpy.float32)
    return numpy.clip(numpy.rint(x * 255.0), 0, 255).astype(numpy.uint8)
