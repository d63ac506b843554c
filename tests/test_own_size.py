"""An explanation at the image's own size: the framing (stretch, pad, crop), the maps brought back bilinearly,
the command's maps and note, the one-line repr, and ``import hadamard_min`` without matplotlib."""
import json
import subprocess
import sys

import numpy
import pytest
from PIL import Image
from references import bilinear, tiny_float64_model

import hadamard_min as hm
from hadamard_min.cli.explain import main
from hadamard_min.explain.framing import FITS, FitError, Framing, frame, to_image

PHOTO = numpy.random.default_rng(3).integers(0, 256, (50, 74, 3), dtype=numpy.uint8)  # 74×50, not square
QUESTION = "What color is the circle?"


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()  # a 16×16 input, crop=False (stretch)


def test_import_does_not_import_matplotlib():
    code = "import sys, hadamard_min; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_stretch_is_torch_bilinear_at_half_pixel_centres():
    grid = numpy.random.default_rng(0).random((3, 5))
    ours = to_image(grid, Framing.whole(7, 11, 5))
    assert ours.dtype == numpy.float32 and ours.shape == (7, 11)
    numpy.testing.assert_allclose(ours, bilinear(grid, 7, 11), rtol=1e-5, atol=1e-6)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.functional.interpolate(torch.from_numpy(grid)[None, None], size=(7, 11), mode="bilinear",
                                             align_corners=False)[0, 0].numpy()
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def with_peak(compute):
    """``compute()`` and the most memory NumPy held meanwhile (tracemalloc sees its arrays)."""
    import tracemalloc
    tracemalloc.start()
    try:
        return compute(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_thin_image_costs_its_own_pixels_not_a_dense_resampling_matrix():
    grid = numpy.random.default_rng(1).random((64, 64))
    strip, peak = with_peak(lambda: to_image(grid, Framing.whole(1, 1_000_000, 64)))
    assert strip.shape == (1, 1_000_000) and peak < 120 * 2 ** 20, peak  # R would be 1e6 × 64 float64: 512 MB
    row = (grid[31] + grid[32]) / 2  # the one output row's centre, 31.5 on the grid
    expected = numpy.interp((numpy.arange(1_000_000) + 0.5) * 64 / 1_000_000 - 0.5, numpy.arange(64), row)
    numpy.testing.assert_allclose(strip[0], expected, rtol=1e-5, atol=1e-6)


def test_a_large_square_image_costs_its_output_and_little_more():
    grid = numpy.random.default_rng(2).random((3, 14, 14))
    maps, peak = with_peak(lambda: to_image(grid, Framing.whole(3000, 3000, 14)))
    assert maps.shape == (3, 3000, 3000) and peak < 1.1 * maps.nbytes, (peak, maps.nbytes)  # 103 MB


@pytest.mark.parametrize("fit", FITS)
def test_every_fit_maps_a_network_pixel_back_to_the_image_pixel_it_came_from(model, fit):
    """A ramp u(i, j) = j on the network's grid comes back as each image pixel's network column."""
    image, pixels, x, framing = frame(model, PHOTO, fit)
    assert image.shape == PHOTO.shape and pixels.shape == (16, 16, 3) and x.shape == (3, 16, 16)
    size = 16
    ramp = numpy.tile(numpy.arange(size, dtype=float), (size, 1))
    back = to_image(ramp, framing)
    left, _, right, _ = framing.box
    u = (numpy.arange(74) + 0.5 - left) * size / (right - left) - 0.5
    inside = (u >= 0) & (u <= size - 1)
    numpy.testing.assert_allclose(back[25, inside], u[inside], rtol=1e-5, atol=1e-5)
    if fit == "crop":
        assert (back[:, u < -0.5] == 0).all() and (back[:, u > size - 0.5] == 0).all()  # never seen
        assert framing.box[0] > 0 and framing.box[2] < 74
    if fit == "pad":
        assert framing.box[0] == 0 and framing.box[1] < 0           # a margin above and below
        mean = numpy.rint(255 * numpy.asarray(model.mean)).astype(numpy.uint8)
        assert (pixels[0] == mean).all()                             # the top row is the padding


def test_an_explanation_keeps_the_image_and_brings_its_maps_back(model):
    e = hm.explain(model, PHOTO, QUESTION)
    assert e.image.shape == (50, 74, 3) and e.input_image.shape == (16, 16, 3)
    assert e.heatmap.shape == (16, 16) and e.framing.fit == "stretch"
    assert e.at_image(e.heatmap).shape == (50, 74) and e.at_image(e.pixel_map).shape == (3, 50, 74)
    assert hm.overlay(e.image, e.heatmap).shape == (50, 74, 3)
    padded = hm.explain(model, PHOTO, QUESTION, fit="pad")
    assert padded.framing.fit == "pad" and "padded" in padded.framing.note()
    assert not numpy.array_equal(padded.input_image, e.input_image)
    with pytest.raises(FitError):
        hm.explain(model, PHOTO, QUESTION, fit="squash")
    assert issubclass(FitError, hm.ExplainArgumentError)


def test_repr_is_one_line_and_the_rich_view_stays(model):
    e = hm.explain(model, PHOTO, QUESTION)
    text = repr(e)
    assert "\n" not in text and len(text) < 200 and "74×50" in text and "16×16" in text
    assert str(e) == text
    bundle = e._repr_mimebundle_()
    assert bundle["image/png"][:8] == b"\x89PNG\r\n\x1a\n" and "<img" in bundle["text/html"]


def test_save_and_load_keep_the_image_as_given(model, tmp_path):
    e = hm.explain(model, PHOTO, QUESTION, fit="pad")
    loaded = hm.Explanation.load(e.save(tmp_path / "e.npz"))
    numpy.testing.assert_array_equal(loaded.image, PHOTO)
    numpy.testing.assert_array_equal(loaded.input_image, e.input_image)
    assert loaded.framing == e.framing


def test_the_command_writes_maps_at_the_photos_size_and_says_the_model_saw_a_square(tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(numpy.asarray(Image.open(hm.__path__[0] + "/assets/photos/coffee.png").convert("RGB")
                                  .resize((741, 500)))).save(photo)
    out = tmp_path / "e.png"
    assert main(["--image", str(photo), "--question", "what color is the shape?", "--out", str(out),
                 "--json", str(tmp_path / "e.json")]) == 0
    printed = capsys.readouterr()
    assert "the model saw 64×64: the 741×500 image stretched to a square" in printed.err  # a note: stderr
    assert "the model saw" not in printed.out
    maps = json.loads((tmp_path / "e.json").read_text())["maps"]
    assert len(maps) == 4
    for path in maps.values():
        assert Image.open(path).size == (741, 500)
    assert main(["--image", str(photo), "--question", "what color is the shape?", "--out", str(tmp_path / "p.png"),
                 "--fit", "pad"]) == 0
    assert "padded to a square" in capsys.readouterr().err


def test_a_map_mostly_on_pads_margin_is_said_to_be_there_not_drawn_flat(tmp_path, capsys):
    """A 400×20 strip padded to a square is 3 rows of the model's 64: the heat-map's mass off the image (99 % on
    the shipped model) is in no panel, whose colour scale it still sets; the note says how much."""
    framing = Framing("pad", (0.0, -200.0, 400.0, 220.0), (20, 400), 64)
    heat = numpy.zeros((64, 64))
    heat[:30] = 1.0                                           # rows above the strip: the margin
    heat[31] = 3.0                                            # a row through the strip
    assert framing.margin_share(heat) == pytest.approx(30 * 64 / (30 * 64 + 3 * 64))
    assert Framing.whole(20, 400, 64).margin_share(heat) == 0.0 and framing.margin_share(heat * 0) == 0.0
    strip = tmp_path / "strip.png"
    Image.open(hm.__path__[0] + "/assets/photos/chelsea.png").convert("RGB").resize((400, 20)).save(strip)
    for fit, said in (("pad", True), ("crop", False), ("stretch", False)):
        assert main(["--image", str(strip), "--question", "what shape is in the image?", "--fit", fit,
                     "--out", str(tmp_path / f"{fit}.png")]) == 0
        assert ("% of the heat-map lies on the margin, which no panel shows" in capsys.readouterr().err) == said
