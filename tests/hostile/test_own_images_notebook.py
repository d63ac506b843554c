"""A notebook user's own files in the notebook's functions: a phone photograph opened with PIL and drawn over
with ``hm.overlay`` is the picture ``hm.explain`` read (upright by its EXIF orientation, a palette in its
colours)."""
import numpy
import pytest
from PIL import Image

import hadamard_min as hm
from hadamard_min.data.images import load_image

PIXELS = numpy.random.default_rng(11).integers(0, 256, (6, 10, 3), dtype=numpy.uint8)
HEAT = numpy.random.default_rng(12).random((4, 4))


@pytest.mark.parametrize("value", [3, 6, 8])
def test_overlay_draws_over_a_pil_photo_as_explain_reads_it(tmp_path, value):
    """numpy.asarray(photo) gave the stored pixels: a map over a turned photograph fell on the wrong places
    (for orientation 6, a 6×10 overlay of a picture that hm.explain and e.image hold as 10×6)."""
    exif = Image.Exif()
    exif[0x0112] = value
    path = tmp_path / "phone.jpg"
    Image.fromarray(PIXELS).save(path, exif=exif, quality=100, subsampling=0)
    with Image.open(path) as photo:
        drawn = hm.overlay(photo, HEAT)
    numpy.testing.assert_array_equal(drawn, hm.overlay(load_image(path), HEAT))


def test_overlay_draws_a_palette_image_in_its_colours():
    """numpy.asarray of a mode-P image is its palette indices: the image was drawn as gray levels of them."""
    palette = Image.fromarray(PIXELS).convert("P")
    numpy.testing.assert_array_equal(hm.overlay(palette, HEAT), hm.overlay(numpy.asarray(palette.convert("RGB")), HEAT))

