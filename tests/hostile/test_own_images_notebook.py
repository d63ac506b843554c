"""A notebook user's own files in the notebook's functions: a phone photograph opened with PIL and drawn over
with ``hm.overlay`` is the picture ``hm.explain`` read (upright by its EXIF orientation, a palette in its
colours), and a file that is not an explanation (the figure beside it, a name without .npz) is refused in
words about explanations, not about model weights."""
import numpy
import pytest
from PIL import Image

import hadamard_min as hm
from hadamard_min.data.images import load_image
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.saved import ExplanationFileError

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


def test_loading_the_figure_instead_of_the_arrays_speaks_of_explanations(tmp_path):
    """It raised the weights reader's 'give a file written by hadamard-train, hadamard-port or numpy.savez'."""
    figure = tmp_path / "explanation.png"
    Image.fromarray(PIXELS).save(figure)
    with pytest.raises(ExplanationFileError, match=r"explanation\.png: not an explanation file: .*not a zip archive"
                                                   r".*Explanation\.save or hadamard-explain --save-arrays") as caught:
        hm.Explanation.load(figure)
    assert "hadamard-train" not in str(caught.value) and "\n" not in str(caught.value)


def test_saving_under_a_name_without_npz_speaks_of_explanations(tmp_path):
    """It raised WeightsError 'weights are saved as .npz'."""
    e = hm.explain(hm.load_model(), PIXELS, "what color is the shape?")
    with pytest.raises(ExplainArgumentError, match=r"path must name an \.npz file \(an explanation is saved as one\)"):
        e.save(tmp_path / "explanation")
    assert not list(tmp_path.iterdir())
