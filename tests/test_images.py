import re

import numpy
import pytest
from PIL import Image

from hadamard_min.data import images
from hadamard_min.data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageError,
    center_crop,
    crop_resized,
    deprocess,
    load_image,
    normalize,
    preprocess,
    resize_exact,
    resize_shorter_side,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def saved_and_direct(img, tmp_path, suffix):
    """The image loaded from a file written in ``suffix`` format and straight from the PIL object."""
    path = tmp_path / f"image{suffix}"
    img.save(path)
    return [load_image(path), load_image(str(path)), load_image(img)]


def assert_rgb(loaded, expected):
    assert loaded.dtype == numpy.uint8
    assert loaded.shape == expected.shape
    numpy.testing.assert_array_equal(loaded, expected)


def test_rgb_file_round_trip(tmp_path):
    pixels = numpy.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=numpy.uint8)
    for loaded in saved_and_direct(Image.fromarray(pixels), tmp_path, ".png"):
        assert_rgb(loaded, pixels)


def test_grayscale_l(tmp_path):
    gray = numpy.array([[0, 40], [128, 255]], dtype=numpy.uint8)
    for loaded in saved_and_direct(Image.fromarray(gray, mode="L"), tmp_path, ".png"):
        assert_rgb(loaded, numpy.repeat(gray[:, :, None], 3, axis=2))


def test_palette_p(tmp_path):
    img = Image.new("P", (3, 1))
    img.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 * 3 - 9))
    img.putdata([2, 0, 1])
    for loaded in saved_and_direct(img, tmp_path, ".png"):
        assert_rgb(loaded, numpy.array([[BLUE, RED, GREEN]], dtype=numpy.uint8))


def test_palette_with_transparent_entry_goes_on_white(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *BLUE] + [0] * (256 * 3 - 6))
    img.putdata([0, 1])
    img.info["transparency"] = 1
    for loaded in saved_and_direct(img, tmp_path, ".png"):
        assert_rgb(loaded, numpy.array([[RED, WHITE]], dtype=numpy.uint8))


def test_rgba_is_composited_on_white(tmp_path):
    rgba = numpy.array([[[255, 0, 0, 255], [0, 0, 255, 0], [0, 0, 0, 128], [0, 255, 0, 51]]],
                       dtype=numpy.uint8)
    # rgb * a + 255 * (1 - a): opaque red, transparent → white, half black, 20 % green
    expected = numpy.array([[RED, WHITE, (127, 127, 127), (204, 255, 204)]], dtype=numpy.uint8)
    for loaded in saved_and_direct(Image.fromarray(rgba, mode="RGBA"), tmp_path, ".png"):
        assert_rgb(loaded, expected)


def test_la_is_composited_on_white(tmp_path):
    la = numpy.array([[[0, 255], [0, 0], [100, 255]]], dtype=numpy.uint8)
    expected = numpy.array([[(0, 0, 0), WHITE, (100, 100, 100)]], dtype=numpy.uint8)
    for loaded in saved_and_direct(Image.fromarray(la, mode="LA"), tmp_path, ".png"):
        assert_rgb(loaded, expected)


def test_cmyk(tmp_path):
    cmyk = numpy.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 255, 0], [0, 0, 0, 255]]], dtype=numpy.uint8)
    expected = numpy.array([[WHITE, (0, 255, 255), RED, (0, 0, 0)]], dtype=numpy.uint8)
    for loaded in saved_and_direct(Image.fromarray(cmyk, mode="CMYK"), tmp_path, ".tiff"):
        assert_rgb(loaded, expected)


@pytest.mark.parametrize("dtype, suffix", [(numpy.uint16, ".png"), (numpy.int32, ".tiff")])
def test_sixteen_bit_is_scaled_not_clipped(tmp_path, dtype, suffix):
    values = numpy.array([[0, 257 * 40, 257 * 200 + 100], [30000, 65535, 128]], dtype=dtype)
    img = Image.fromarray(values)
    assert img.mode in ("I;16", "I")
    gray = numpy.array([[0, 40, 200], [117, 255, 0]], dtype=numpy.uint8)  # round(v / 257)
    for loaded in saved_and_direct(img, tmp_path, suffix):
        assert_rgb(loaded, numpy.repeat(gray[:, :, None], 3, axis=2))


def test_arrays_with_one_two_or_four_channels_read_as_the_pil_image_of_their_mode(tmp_path):
    """(H, W, 1) is gray, (H, W, 2) gray with alpha, (H, W, 4) RGBA: each as its PIL image (LA, RGBA composited
    on white), as NumPy's view of an image file of those modes gives them (they were refused)."""
    rng = numpy.random.default_rng(0)
    for channels, mode in [(1, "L"), (2, "LA"), (4, "RGBA")]:
        array = rng.integers(0, 256, (5, 7, channels), dtype=numpy.uint8)
        image = Image.fromarray(array[:, :, 0] if channels == 1 else array)
        assert image.mode == mode
        image.save(tmp_path / f"{mode}.png")
        assert_rgb(load_image(array), load_image(tmp_path / f"{mode}.png"))
    rgba = numpy.array([[[200, 0, 0, 128], [10, 20, 30, 0], [1, 2, 3, 255]]], dtype=numpy.uint8)
    assert_rgb(load_image(rgba), numpy.array([[[227, 127, 127], [255, 255, 255], [1, 2, 3]]], dtype=numpy.uint8))


def test_arrays():
    gray = numpy.arange(12, dtype=numpy.uint8).reshape(3, 4)
    assert_rgb(load_image(gray), numpy.repeat(gray[:, :, None], 3, axis=2))
    rgb = numpy.arange(36, dtype=numpy.uint8).reshape(3, 4, 3)
    assert_rgb(load_image(rgb[:, ::-1]), rgb[:, ::-1])
    with pytest.raises(ImageError, match="must be uint8"):
        load_image(rgb.astype(numpy.float32))
    with pytest.raises(ImageError, match=r"\(H, W, 1–4\), not \(3, 4, 5\): channels go last"):
        load_image(numpy.zeros((3, 4, 5), dtype=numpy.uint8))
    with pytest.raises(ImageError, match=r"\(H, W, 1–4\), not \(2, 3, 4, 3\)$"):
        load_image(numpy.zeros((2, 3, 4, 3), dtype=numpy.uint8))
    with pytest.raises(ImageError, match="empty"):
        load_image(numpy.zeros((0, 4, 4), dtype=numpy.uint8))
    with pytest.raises(ImageError, match="empty"):
        load_image(numpy.zeros((0, 4), dtype=numpy.uint8))
    with pytest.raises(ImageError, match="cannot use a list"):
        load_image([[0, 1]])


def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere.png"
    with pytest.raises(ImageError, match=re.escape(f"image not found: {missing}")):
        load_image(missing)
    with pytest.raises(ImageError, match="is a folder, not an image file"):
        load_image(tmp_path)  # a directory
    with pytest.raises(ImageError, match="the image path is empty"):  # not ".", the current folder
        load_image("")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(ImageError, match=r"cannot read image .*notes\.png: not an image file or truncated"):
        load_image(path)


def test_truncated_png(tmp_path):
    pixels = numpy.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=numpy.uint8)
    whole = tmp_path / "whole.png"
    Image.fromarray(pixels).save(whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cannot read image .*cut\.png: not an image file or truncated"):
        load_image(cut)
    with Image.open(cut) as lazily_opened:
        with pytest.raises(ImageError, match="truncated"):
            load_image(lazily_opened)


def test_preprocess_shape_and_dtype():
    image = numpy.random.default_rng(2).integers(0, 256, (200, 300, 3), dtype=numpy.uint8)
    x = preprocess(image, size=64)
    assert x.shape == (3, 64, 64) and x.dtype == numpy.float32 and x.flags.c_contiguous
    assert preprocess(image).shape == (3, 448, 448)
    assert preprocess(image, size=32, crop=False).shape == (3, 32, 32)


def test_constant_mean_image_maps_to_zero():
    mean_pixel = numpy.rint(numpy.array(IMAGENET_MEAN) * 255).astype(numpy.uint8)
    image = numpy.broadcast_to(mean_pixel, (50, 70, 3)).copy()
    x = preprocess(image, size=32)
    numpy.testing.assert_allclose(x, 0.0, atol=0.5 / 255 / min(IMAGENET_STD))
    white = preprocess(numpy.full((8, 8, 3), 255, dtype=numpy.uint8), size=8)
    expected = (1.0 - numpy.array(IMAGENET_MEAN)) / numpy.array(IMAGENET_STD)
    numpy.testing.assert_allclose(white, numpy.broadcast_to(expected[:, None, None], (3, 8, 8)), rtol=1e-6)


def stripes(widths, colors, height):
    """Vertical stripes of the given widths and colours."""
    return numpy.concatenate([numpy.broadcast_to(numpy.array(c, dtype=numpy.uint8), (height, w, 3))
                              for w, c in zip(widths, colors)], axis=1)


def test_shorter_side_resize_keeps_aspect_and_crops_the_centre():
    # 100 wide × 20 tall: red 30 | green 40 | blue 30. Shorter side 10 → 50 × 10; the central 10 columns
    # come from original columns 40..60, inside the green stripe by more than the bicubic support (±4).
    image = stripes([30, 40, 30], [RED, GREEN, BLUE], height=20)
    resized = resize_shorter_side(image, 10)
    assert resized.shape == (10, 50, 3)
    all_green = numpy.full((10, 10, 3), GREEN, dtype=numpy.uint8)
    numpy.testing.assert_array_equal(center_crop(resized, 10), all_green)
    x = preprocess(image, size=10)
    numpy.testing.assert_array_equal(deprocess(x), all_green)
    # The same for a portrait image (stripes turned into rows).
    portrait = preprocess(image.transpose(1, 0, 2), size=10)
    numpy.testing.assert_array_equal(portrait, x)


def test_bicubic_resize_overshoots_at_edges():
    """Bicubic (unlike bilinear) rings at a sharp edge: values beyond the two input levels, clipped."""
    image = stripes([8, 8], [(50, 50, 50), (200, 200, 200)], height=16)
    upsampled = resize_shorter_side(image, 64)[0, :, 0].astype(int)
    assert upsampled.min() < 50 and upsampled.max() > 200


def test_center_crop_offsets_and_errors():
    image = numpy.arange(5 * 6 * 3, dtype=numpy.uint8).reshape(5, 6, 3)
    numpy.testing.assert_array_equal(center_crop(image, 3), image[1:4, 1:4])
    with pytest.raises(ImageError, match="cannot crop 6×6 from a 5×6 image"):
        center_crop(image, 6)


def test_resize_exact():
    image = stripes([30, 40, 30], [RED, GREEN, BLUE], height=20)
    squeezed = resize_exact(image, 20)
    assert squeezed.shape == (20, 20, 3) and squeezed.dtype == numpy.uint8
    assert tuple(squeezed[10, 1]) == RED and tuple(squeezed[10, -2]) == BLUE  # nothing cropped away
    same = numpy.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=numpy.uint8)
    numpy.testing.assert_array_equal(resize_exact(same, 64), same)


def test_deprocess_inverts_normalize():
    image = numpy.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=numpy.uint8)
    x = preprocess(image, size=64, crop=False)
    numpy.testing.assert_array_equal(deprocess(x), image)
    numpy.testing.assert_array_equal(deprocess(normalize(image, mean=(0.5,) * 3, std=(0.25,) * 3),
                                               mean=(0.5,) * 3, std=(0.25,) * 3), image)
    assert deprocess(numpy.full((3, 2, 2), 100.0)).tolist() == numpy.full((2, 2, 3), 255).tolist()


@pytest.mark.parametrize("shape", [(37, 300), (300, 37), (64, 65), (5, 2000), (2000, 5)])
def test_a_crop_resized_from_its_box_is_the_crop_of_the_whole_resize(monkeypatch, shape):
    """Past MAX_RESIZE_PIXELS only the crop's box is resized (in passes made one at a time): the same picture as
    resizing the whole image and cropping its centre, within 2 levels on a smooth image (the box's float32
    rounding in Pillow and another pass order), so the crop is neither moved nor scaled."""
    rows, columns = numpy.mgrid[0:shape[0], 0:shape[1]]
    image = numpy.stack([127 + 120 * numpy.sin(columns / 7 + rows / 11), 127 + 120 * numpy.cos(rows / 5),
                         columns * 255 / (shape[1] - 1)], axis=2).round().astype(numpy.uint8)
    whole = center_crop(resize_shorter_side(image, 24), 24).astype(int)
    monkeypatch.setattr(images, "MAX_RESIZE_PIXELS", 0)
    boxed = crop_resized(image, 24, 24).astype(int)
    assert boxed.shape == (24, 24, 3) and numpy.abs(boxed - whole).max() <= 2
    assert numpy.abs(boxed[:, 1:] - whole[:, :-1]).max() > 2 or numpy.abs(boxed[1:] - whole[:-1]).max() > 2


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")   # numpy.matrix's own
def test_an_array_of_a_numpy_subclass_is_read_as_the_plain_array():
    """numpy.matrix (always 2-D, its own indexing) crashed inside numpy.repeat; a masked array keeps its data."""
    gray = numpy.arange(12, dtype=numpy.uint8).reshape(3, 4)
    for array in (numpy.asmatrix(gray), numpy.ma.masked_array(gray, mask=gray > 5)):
        rgb = load_image(array)
        assert type(rgb) is numpy.ndarray and rgb.shape == (3, 4, 3)
        numpy.testing.assert_array_equal(rgb[..., 1], gray)


@pytest.mark.parametrize("shape", [(5, 6), (5, 6, 3)])
def test_the_array_read_never_shares_the_callers_memory(shape):
    given = numpy.full(shape, 7, numpy.uint8)
    rgb = load_image(given)
    given[...] = 0
    assert rgb.min() == 7 and not numpy.shares_memory(rgb, given)


def test_any_path_like_is_a_path_and_a_name_the_system_refuses_is_an_image_error(tmp_path):
    Image.new("RGB", (3, 2), (1, 2, 3)).save(tmp_path / "a.png")

    class PathLike:
        def __fspath__(self):
            return str(tmp_path / "a.png")

    assert load_image(PathLike())[0, 0].tolist() == [1, 2, 3]
    with pytest.raises(ImageError, match="File name too long"):
        load_image(tmp_path / ("a" * 300 + ".png"))


def test_a_floating_point_pil_image_is_refused_not_truncated():
    """Mode F holds any floats (0..1, NaN, 300.7): no conversion to 0–255 is right for all, so none is made."""
    image = Image.fromarray(numpy.linspace(0, 1, 16, dtype=numpy.float32).reshape(4, 4), mode="F")
    with pytest.raises(ImageError, match="mode F"):
        load_image(image)


def test_premultiplied_la_is_composited_on_white():
    """La stores L·a: on white that is the stored value + 255 − a (Pillow converts La to nothing else)."""
    rgb = load_image(Image.new("La", (2, 2), (100, 128)))
    assert rgb.shape == (2, 2, 3) and rgb[0, 0].tolist() == [227, 227, 227]
    assert load_image(Image.new("La", (1, 1), (0, 0)))[0, 0].tolist() == [255, 255, 255]   # transparent: white
