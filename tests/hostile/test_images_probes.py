"""Images, probes beyond the reproductions: formats Pillow knows but the list does not (refused whatever their
name), every listed format still read, a GIF frame larger than its screen, a zlib bomb in an ICC profile and
a truncated JPEG: each one line, quickly."""
import io
import struct
import zlib

import numpy
import pytest
from hostile_helpers import run_main
from image_files import blank_png, chunk
from PIL import Image

from hadamard_min.cli.explain import main as explain
from hadamard_min.data.images import FORMATS, ImageError, load_image

PIXELS = numpy.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=numpy.uint8)
OTHER_FORMATS = {"ICO": "RGB", "TGA": "RGB", "PCX": "RGB", "SGI": "RGB", "XBM": "1", "SPIDER": "F"}
READ = {"PNG": True, "JPEG": False, "GIF": False, "BMP": True, "TIFF": True, "WEBP": False, "PPM": True}


def saved(path, image, format_name, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("format_name", OTHER_FORMATS)
def test_a_format_off_the_list_is_refused_whatever_its_name(tmp_path, capsys, format_name):
    image = Image.fromarray(PIXELS).convert(OTHER_FORMATS[format_name])
    path = saved(tmp_path / "x.png", image, format_name)
    with Image.open(path) as opened:
        assert opened.format == format_name          # Pillow alone would decode it
    with pytest.raises(ImageError, match="not an image file"):
        load_image(path)
    run_main(explain, ["--image", path, "--question", "what shape is it?", "--out", tmp_path / "e.png"], capsys) \
        .one_line_error("x.png", "PNG, JPEG, GIF, BMP, TIFF, WebP or PPM")


@pytest.mark.parametrize("format_name", READ)
def test_every_format_on_the_list_is_read(tmp_path, format_name):
    assert format_name in FORMATS
    path = saved(tmp_path / "photo.img", Image.fromarray(PIXELS), format_name,
                 **({"lossless": True} if format_name == "WEBP" else {}))
    loaded = load_image(path)
    assert loaded.shape == PIXELS.shape
    if READ[format_name] or format_name == "WEBP":   # lossless
        numpy.testing.assert_array_equal(loaded, PIXELS)
    with Image.open(path) as opened:                 # a Pillow image the user opened is accepted too
        assert load_image(opened).shape == PIXELS.shape


def gif(screen, frame):
    """A GIF whose one frame descriptor declares ``frame`` (width, height) on a ``screen`` of another size."""
    return (b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + bytes(6)
            + b"," + struct.pack("<HHHHB", 0, 0, *frame, 0) + b"\x02\x02\x4c\x01\x00\x00;")


def test_a_gif_frame_larger_than_its_screen_is_refused_before_decoding(tmp_path, capsys):
    path = tmp_path / "x.gif"
    path.write_bytes(gif((1, 1), (60000, 60000)))
    run_main(explain, ["--image", path, "--question", "what shape is it?", "--out", tmp_path / "e.png"], capsys) \
        .one_line_error("x.gif", "too large")


def test_a_zlib_bomb_in_an_icc_profile_is_one_line(tmp_path, capsys):
    path = blank_png(tmp_path / "x.png", 8, 8)
    data = path.read_bytes()
    bomb = chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(bytes(256 << 20), 9))  # 256 MiB of zeros, ~250 KB
    path.write_bytes(data[:33] + bomb + data[33:])                               # after IHDR
    run_main(explain, ["--image", path, "--question", "what shape is it?", "--out", tmp_path / "e.png"], capsys) \
        .one_line_error("x.png", "not an image file or truncated")


def test_a_truncated_jpeg_is_one_line(tmp_path, capsys):
    whole = saved(tmp_path / "whole.jpg", Image.fromarray(numpy.tile(PIXELS, (40, 40, 1))), "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:400])
    run_main(explain, ["--image", cut, "--question", "what shape is it?", "--out", tmp_path / "e.png"], capsys) \
        .one_line_error("cut.jpg", "truncated")


@pytest.mark.parametrize("kind, words", [("folder", "is a folder"), ("pipe", "not a regular file"),
                                         ("missing", "image not found")])
def test_an_image_path_that_is_not_a_file_is_called_what_it_is(tmp_path, capsys, kind, words):
    path = tmp_path / "photo.png"
    if kind == "folder":
        path.mkdir()
    elif kind == "pipe":
        import os
        os.mkfifo(path)
    with pytest.raises(ImageError, match=words):
        load_image(path)
    run_main(explain, ["--image", path, "--question", "what shape?", "--out", tmp_path / "o.png"],
             capsys).one_line_error(words)


@pytest.mark.parametrize("value", range(1, 9))
def test_a_photograph_is_read_upright_by_its_exif_orientation_as_pillow_turns_it(tmp_path, value):
    from PIL import ImageOps
    image = Image.fromarray(PIXELS)
    exif = image.getexif()
    exif[0x0112] = value
    path = tmp_path / "turned.jpg"
    image.save(path, exif=exif, quality=100, subsampling=0)
    with Image.open(path) as stored:
        expected = numpy.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    pixels = load_image(path)
    assert pixels.shape == expected.shape and pixels.flags.c_contiguous
    numpy.testing.assert_array_equal(pixels, expected)
    with Image.open(path) as opened:  # the same pixels from the PIL image of the file
        numpy.testing.assert_array_equal(load_image(opened), expected)
        numpy.testing.assert_array_equal(load_image(ImageOps.exif_transpose(opened)), expected)  # turned once
    assert (pixels.shape[0] == 6) == (value <= 4)  # 5–8 swap height and width


@pytest.mark.parametrize("shape", [(9000, 9000), (1, 100_000_000), (9000, 9000, 3)])
def test_an_array_over_the_pixel_limit_is_refused_as_a_file_of_that_size_is(shape):
    big = numpy.lib.stride_tricks.as_strided(numpy.zeros(1, numpy.uint8), shape, (0,) * len(shape))  # no memory
    with pytest.raises(ImageError, match="more than the 67,108,864 read at most"):
        load_image(big)
