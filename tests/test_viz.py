"""Figures: Figure-2 layout renders for any G and question length; colour and map helpers on hand values."""
import math
import subprocess
import sys

import numpy
import pytest
from PIL import Image

from hadamard_min.explain.figure import FigureInputError, save_explanation_figure, save_grid_figure
from hadamard_min.explain.maps import pixel_map_to_rgb, save_map_png, upsample_nearest
from hadamard_min.explain.terminal import terminal_tokens, token_color
from hadamard_min.io.outputs import OutputFolderError

H, S = 56, 7
WORDS = "what color is the shape in the middle of the picture".split()


def _example(rng, glimpses, n_tokens):
    image = rng.integers(0, 256, size=(H, H, 3), dtype=numpy.uint8)
    logits = rng.normal(size=(glimpses, S * S))
    alpha = (numpy.exp(logits) / numpy.exp(logits).sum(1, keepdims=True)).reshape(glimpses, S, S)
    pixel_map = rng.normal(size=(3, H, H))
    tokens = [WORDS[i % len(WORDS)] for i in range(n_tokens)]
    token_z = numpy.linspace(-2.5, 2.5, n_tokens) if n_tokens > 1 else numpy.array([2.5])
    return image, alpha, pixel_map, tokens, list(token_z)


def _render(tmp_path, rng, glimpses, n_tokens, **options):
    image, alpha, pixel_map, tokens, token_z = _example(rng, glimpses, n_tokens)
    path = save_explanation_figure(tmp_path / f"g{glimpses}_t{n_tokens}.png", image, alpha, pixel_map,
                                   tokens, token_z, "red", 0.87, **options)
    with Image.open(path) as png:
        return numpy.asarray(png.convert("RGB"))


def _contains_color(pixels, rgb, tolerance=2):
    target = numpy.round(numpy.asarray(rgb) * 255)
    return bool(numpy.any(numpy.all(numpy.abs(pixels.astype(float) - target) <= tolerance, axis=-1)))


@pytest.mark.parametrize(("glimpses", "n_tokens"), [(1, 8), (2, 8), (4, 8), (2, 1), (2, 40)])
def test_explanation_figure_renders(tmp_path, rng, glimpses, n_tokens):
    pixels = _render(tmp_path, rng, glimpses, n_tokens, top_k=[("red", 0.87), ("blue", 0.1)], title="t")
    height, width, _ = pixels.shape
    assert 600 < width < 3000 and 400 < height < 2000
    assert pixels.std() > 0
    # the highest z (+2.5, clipped to +2) is drawn as a token box in the reddest colour
    assert _contains_color(pixels, token_color(2.0))


def test_figure_grows_with_glimpses_and_question_length(tmp_path, rng):
    narrow, wide = _render(tmp_path, rng, 1, 8), _render(tmp_path, rng, 4, 8)
    short, long = _render(tmp_path, rng, 2, 1), _render(tmp_path, rng, 2, 40)
    assert wide.shape[1] > narrow.shape[1]
    assert long.shape[0] > short.shape[0]   # 40 tokens wrap onto more lines


def test_missing_folder_is_a_clear_error(tmp_path, rng):
    image, alpha, pixel_map, tokens, token_z = _example(rng, 2, 3)
    with pytest.raises(OutputFolderError, match="does not exist") as caught:
        save_explanation_figure(tmp_path / "nope" / "f.png", image, alpha, pixel_map, tokens, token_z,
                                "a", 0.5)
    assert isinstance(caught.value, FileNotFoundError)
    assert not (tmp_path / "nope").exists()


def test_written_atomically_without_leftovers(tmp_path, rng):
    _render(tmp_path, rng, 2, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["g2_t3.png"]
    (tmp_path / "plain").write_bytes(b"")   # the permissions an ordinary new file gets here
    assert (tmp_path / "g2_t3.png").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_inputs_that_do_not_fit_are_rejected(tmp_path, rng):
    image, alpha, pixel_map, tokens, token_z = _example(rng, 2, 3)
    with pytest.raises(FigureInputError, match="z-scores"):
        save_explanation_figure(tmp_path / "f.png", image, alpha, pixel_map, tokens, token_z[:2], "a", 0.5)
    with pytest.raises(FigureInputError, match="pixel_map"):
        save_explanation_figure(tmp_path / "f.png", image, alpha, pixel_map[:, :-1], tokens, token_z,
                                "a", 0.5)


def test_pixel_map_to_rgb_hand_values():
    pixel_map = numpy.array([0.0, 3.0, -6.0, 1.5, -1.5, 9.0]).reshape(1, 2, 3).repeat(3, axis=0)
    pixel_map[1] *= -1.0
    rgb = pixel_map_to_rgb(pixel_map)
    assert rgb.shape == (2, 3, 3)
    numpy.testing.assert_allclose(rgb[..., 0], [[0.5, 1.0, 0.0], [0.75, 0.25, 1.0]])
    numpy.testing.assert_allclose(rgb[..., 1], [[0.5, 0.0, 1.0], [0.25, 0.75, 0.0]])
    numpy.testing.assert_allclose(pixel_map_to_rgb(pixel_map, spread=1.0)[0, 0], [0.5, 0.5, 0.5])


def test_token_color_red_high_blue_low_white_middle():
    red, blue, middle = token_color(2.0), token_color(-2.0), token_color(0.0)
    assert red[0] > 0.3 and red[0] > 3 * max(red[1], red[2])
    assert blue[2] > 0.3 and blue[2] > 3 * blue[0]
    assert min(middle) > 0.9
    for z in (0.25, 0.5, 1.0, 1.5):   # red side above zero, blue side below, symmetrically
        assert token_color(z)[0] > token_color(z)[2] and token_color(-z)[2] > token_color(-z)[0]
    assert token_color(5.0) == red and token_color(1.0, limit=1.0) == red
    assert token_color(math.nan) == token_color(float("inf")) != middle


def test_terminal_tokens_plain_with_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    text = terminal_tokens(["what", "color"], [-0.8, 1.2])
    assert "\x1b" not in text
    assert text == "what(-0.80) color(+1.20)"


def test_terminal_tokens_coloured(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    text = terminal_tokens(["low", "high"], [-2.0, 2.0])
    r, g, b = (round(255 * c) for c in token_color(2.0))
    assert f"\x1b[48;2;{r};{g};{b}m" in text.split("high")[0]
    assert text.count("\x1b[0m") == 2
    assert "\x1b" not in terminal_tokens(["low"], [0.0], color=False)


def test_attention_upsampling_is_nearest_neighbour():
    grid = numpy.zeros((4, 4))
    grid[1, 2] = 1.0
    up = upsample_nearest(grid, 16, 16)
    expected = numpy.zeros((16, 16))
    expected[4:8, 8:12] = 1.0
    numpy.testing.assert_array_equal(up, expected)
    uneven = upsample_nearest(numpy.arange(49).reshape(7, 7), 64, 64)
    assert set(numpy.unique(uneven)) == set(range(49))   # every cell shows, no blending


def test_save_map_png(tmp_path):
    gray = numpy.array([[0.0, 0.5], [1.0, 0.25]])
    with Image.open(save_map_png(tmp_path / "g.png", gray)) as png:
        numpy.testing.assert_array_equal(numpy.asarray(png), [[0, 128], [255, 64]])
    chw = numpy.zeros((3, 2, 5), dtype=numpy.uint8)
    chw[0] = 200
    with Image.open(save_map_png(tmp_path / "c.png", chw)) as png:
        assert numpy.asarray(png).shape == (2, 5, 3) and numpy.asarray(png)[0, 0, 0] == 200
    with pytest.raises(FigureInputError, match="normalize=True"):
        save_map_png(tmp_path / "bad.png", gray * 4.0)
    with Image.open(save_map_png(tmp_path / "n.png", gray * 4.0 - 1.0, normalize=True)) as png:
        numpy.testing.assert_array_equal(numpy.asarray(png), [[0, 128], [255, 64]])


def test_save_grid_figure(tmp_path, rng):
    image = rng.integers(0, 256, size=(H, H, 3), dtype=numpy.uint8)
    rows = [("first", [("img", image, "image"), ("map", rng.random((S, S)), "heatmap"),
                       ("grad", rng.normal(size=(3, H, H)), "rgb")]),
            ("second", [("img", image, "image")])]
    with Image.open(save_grid_figure(tmp_path / "grid.png", rows)) as png:
        pixels = numpy.asarray(png.convert("RGB"))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600 and pixels.std() > 0
    with pytest.raises(FigureInputError, match="kind"):
        save_grid_figure(tmp_path / "bad.png", [("r", [("p", image, "photo")])])


def test_import_leaves_pyplot_alone():
    code = "import sys, hadamard_min, hadamard_min.explain.figure; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
