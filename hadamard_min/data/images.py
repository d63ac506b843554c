"""Images in, arrays out: loading any common image as RGB uint8, and the network's preprocessing.

The ResNet preprocessing (as in the original MLB code):

    resize the shorter side to ``size`` (bicubic)  ->  centre-crop ``size × size``
    ->  x = pixel / 255  ->  x_c = (x_c - mean_c) / std_c  ->  float32 (3, size, size)

Small models (easy-VQA, 64×64 images) skip the crop and resize the whole image (:func:`resize_exact`).

A file is an untrusted input: its size in pixels is read from the header and refused above
``MAX_PIXELS`` before anything is decoded, and any failure of the decoder (a truncated or crafted file,
Pillow's decompression-bomb check) is an :class:`ImageError` that names the file. Pillow's warnings about
odd files are not printed; the file either decodes or is refused.
"""
import warnings
from pathlib import Path

import numpy
from PIL import Image

MAX_PIXELS = 8192 * 8192  # the largest image read: 64 Mpx (Pillow itself warns from 89 Mpx)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class ImageError(ValueError):
    """An image cannot be read or has the wrong shape/type."""


def load_image(source):
    """RGB uint8 array (H, W, 3) from a path, a ``PIL.Image`` or a uint8 array (H, W, 3) or (H, W).

    Conversions: grayscale and palette images become gray/palette RGB; 16-bit images (``I;16``, ``I``)
    are scaled to 8 bits by ``round(v / 257)`` (65535 → 255, no clipping of the range); CMYK uses
    Pillow's conversion; transparent images (alpha channel or a palette/tRNS transparency) are
    composited **on white**, ``rgb · a + 255 · (1 − a)``, so transparent backgrounds look as viewers
    show them.
    """
    if isinstance(source, (str, Path)):
        return _load_path(Path(source))
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", "") or "<PIL image>"
        return _decoded_rgb(source, name)
    if isinstance(source, numpy.ndarray):
        return _checked_array(source)
    raise ImageError(f"cannot use a {type(source).__name__} as an image: pass a file path, a PIL image "
                     f"or a uint8 array")


def _load_path(path):
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image {path} is too large to read ({exc}); scale it down first") from None
        except MemoryError:
            raise
        except Exception as exc:  # a decoder's failure on an untrusted file: the file's fault
            raise ImageError(f"cannot read image {path}: not an image file or truncated "
                             f"({type(exc).__name__}: {exc})") from None
        with img:
            return _decoded_rgb(img, path)


def _decoded_rgb(img, name):
    """Check the size, decode fully (so truncation is detected now, not later) and convert to RGB uint8."""
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageError(f"image {name} has {width}×{height} = {width * height:,} pixels, more than the "
                         f"{MAX_PIXELS:,} read at most; scale it down first")
    try:
        img.load()
        return _to_rgb(img)
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot read image {name}: not an image file or truncated "
                         f"({type(exc).__name__}: {exc})") from None


def _to_rgb(img):
    if img.mode in _SIXTEEN_BIT_MODES:
        values = numpy.clip(numpy.asarray(img, dtype=numpy.float64), 0, 65535)
        gray = numpy.rint(values / 257.0).astype(numpy.uint8)
        return numpy.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        # round((rgb·a + 255·(255 − a)) / 255) in 16-bit integers: the sum is at most 255², never a tie
        rgba = numpy.asarray(img.convert("RGBA"), dtype=numpy.uint16)
        alpha = rgba[:, :, 3:]
        return ((rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(numpy.uint8)
    return numpy.asarray(img.convert("RGB"), dtype=numpy.uint8).copy()


def _checked_array(array):
    if array.dtype != numpy.uint8:
        raise ImageError(f"an image array must be uint8, not {array.dtype}: convert with "
                         f"(array * 255).round().astype('uint8') or load the file instead")
    if array.ndim == 2:
        array = numpy.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageError(f"an image array must have shape (H, W, 3) or (H, W), not {array.shape}")
    if min(array.shape[:2]) == 0:
        raise ImageError(f"the image array is empty (shape {array.shape})")
    return numpy.ascontiguousarray(array)


def _resize(image, width, height):
    return numpy.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))


def resize_shorter_side(image, size):
    """Bicubic resize so that the shorter side is ``size``; the aspect ratio is kept (rounded)."""
    image = load_image(image)
    height, width = image.shape[:2]
    scale = size / min(height, width)
    return _resize(image, max(size, round(width * scale)), max(size, round(height * scale)))


def center_crop(image, size):
    """The central ``size × size`` window of an HWC image at least that large."""
    height, width = image.shape[:2]
    if min(height, width) < size:
        raise ImageError(f"cannot crop {size}×{size} from a {height}×{width} image: resize it first")
    top, left = (height - size) // 2, (width - size) // 2
    return image[top:top + size, left:left + size]


def resize_exact(image, size):
    """Bicubic resize of the whole image to ``size × size`` (no crop; the aspect ratio may change)."""
    image = load_image(image)
    if image.shape[:2] == (size, size):
        return image
    return _resize(image, size, size)


def normalize(image, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """uint8 HWC → float32 CHW, ``(pixel / 255 − mean_c) / std_c``."""
    x = image.astype(numpy.float32) / 255.0
    x = (x - numpy.asarray(mean, dtype=numpy.float32)) / numpy.asarray(std, dtype=numpy.float32)
    return numpy.ascontiguousarray(x.transpose(2, 0, 1))


def fit(image, size, crop=True):
    """The uint8 (size, size, 3) picture the network sees, from anything :func:`load_image` accepts.

    ``crop=True``: shorter side to ``size`` (bicubic), then the centre ``size × size`` (the paper's
    pipeline at 448). ``crop=False``: the whole image resized to ``size × size`` (:func:`resize_exact`).
    """
    image = load_image(image)
    return center_crop(resize_shorter_side(image, size), size) if crop else resize_exact(image, size)


def preprocess(image, size=448, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop=True):
    """Network input float32 (3, size, size): :func:`fit`, then ImageNet normalisation."""
    return normalize(fit(image, size, crop), mean, std)


def deprocess(chw, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Inverse of :func:`normalize` for display: float CHW → uint8 HWC (rounded, clipped to 0..255)."""
    x = numpy.asarray(chw, dtype=numpy.float32).transpose(1, 2, 0)
    x = x * numpy.asarray(std, dtype=numpy.float32) + numpy.asarray(mean, dtype=numpy.float32)
    return numpy.clip(numpy.rint(x * 255.0), 0, 255).astype(numpy.uint8)
