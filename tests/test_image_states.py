"""Images Pillow opens in an unusual state: a 16-bit gray PNG with a transparent value, a closed PIL image."""
import numpy
import pytest
from PIL import Image

from hadamard_min.data.images import ImageError, load_image


def test_sixteen_bit_gray_with_a_transparent_value_goes_on_white(tmp_path):
    """A 16-bit gray PNG's tRNS names one 16-bit value as transparent; Pillow keeps it in ``info`` only, and
    the transparent pixels were read as their gray (black here), not on white as every other image's."""
    img = Image.fromarray(numpy.array([[0, 65535], [1000, 2000]], dtype=numpy.uint16))
    img.save(tmp_path / "g.png", transparency=0)
    assert Image.open(tmp_path / "g.png").info["transparency"] == 0  # what Pillow reads back
    gray = numpy.array([[255, 255], [4, 8]], dtype=numpy.uint8)
    loaded = load_image(tmp_path / "g.png")
    assert loaded.dtype == numpy.uint8
    numpy.testing.assert_array_equal(loaded, numpy.repeat(gray[:, :, None], 3, axis=2))


def test_a_closed_pil_image_is_named_closed_not_truncated(tmp_path):
    """A PIL image used after its ``with Image.open(…)`` block (or image.close()) was "not an image file or
    truncated (AssertionError: )", of a file that reads well."""
    Image.new("RGB", (4, 3), (255, 0, 0)).save(tmp_path / "fine.png")
    with Image.open(tmp_path / "fine.png") as unread:
        pass
    read = Image.open(tmp_path / "fine.png")
    read.load()
    read.close()
    for image in (unread, read):
        with pytest.raises(ImageError, match=r"is closed .*pass it while it is open, or its path"):
            load_image(image)
    assert load_image(str(tmp_path / "fine.png")).shape == (3, 4, 3)
