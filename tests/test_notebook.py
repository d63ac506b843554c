"""The explanation in a notebook: the Figure, PNG and HTML views, the overlay, save/load, explain_batch in chunks."""
import base64
import dataclasses
import io
import json
import re

import numpy
import pytest
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image
from references import bilinear, tiny_float64_model

import hadamard_min as hm
from hadamard_min.explain.figure import FigureInputError, token_color
from hadamard_min.explain.notebook import question_html
from hadamard_min.explain.saved import ExplanationFileError
from hadamard_min.io.weights import save_weights

QUESTIONS = ["What color is the circle?", "is there a red shape", "what is <the> shape?", "is there a circle"]
IMAGES = numpy.random.default_rng(7).integers(0, 256, (4, 16, 16, 3), dtype=numpy.uint8)


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


@pytest.fixture(scope="module")
def explanation(model):
    return hm.explain(model, IMAGES[0], QUESTIONS[0])


def png_pixels(data):
    return numpy.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_plot_explanation_is_a_figure_with_the_papers_panels(explanation, model):
    figure = hm.plot_explanation(explanation)
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:6] == ["input", "α1 (eq. 4)", "α2 (eq. 4)", "∇v (RGB)", "∇v signed (Σ RGB)",
                          "|∇v| over the image"]
    cam = hm.explain_batch(model, IMAGES[:1], QUESTIONS[:1], method="gradcam")[0]
    titles = [ax.get_title() for ax in hm.plot_explanation(cam).axes]
    assert "|Grad-CAM| over the image" in titles and not any("RGB" in t for t in titles)  # no gradient at the pixels


def test_png_view_and_the_save_load_round_trip(explanation, tmp_path):
    png = explanation._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = png_pixels(png)
    assert pixels.shape[1] > 600 and pixels.std() > 10
    path = explanation.save(tmp_path / "e.npz")
    loaded = hm.Explanation.load(path)
    for name in ("grad_v", "grad_q", "pixel_map", "heatmap", "alpha", "token_scores", "token_z", "image"):
        numpy.testing.assert_array_equal(getattr(loaded, name), getattr(explanation, name), err_msg=name)
        assert getattr(loaded, name).dtype == getattr(explanation, name).dtype, name
    for name in ("question", "tokens", "answer", "probability", "top_k", "unknown_words", "options", "method",
                 "target"):
        assert getattr(loaded, name) == getattr(explanation, name), name
    numpy.testing.assert_array_equal(png_pixels(loaded._repr_png_()), pixels)  # the same figure again


def test_a_baseline_without_pixel_gradients_round_trips_too(model, tmp_path):
    attention = hm.explain_batch(model, IMAGES[:1], QUESTIONS[:1], method="attention")[0]
    loaded = hm.Explanation.load(attention.save(tmp_path / "a.npz"))
    assert loaded.grad_v is None and loaded.pixel_map is None and loaded.grad_q is None
    assert numpy.isnan(loaded.token_z).all() and loaded.method == "attention"
    assert attention.to_json()["token_z"] == [None] * len(attention.tokens)  # JSON has no NaN


def test_load_refuses_files_that_are_not_explanations(explanation, tmp_path):
    save_weights(tmp_path / "w.npz", {"fc.weight": numpy.ones(3)})
    with pytest.raises(ExplanationFileError, match="not an explanation"):
        hm.Explanation.load(tmp_path / "w.npz")
    broken = explanation.save(tmp_path / "e.npz")
    arrays = dict(numpy.load(broken))
    arrays["heatmap"] = arrays["heatmap"][:-1]
    metadata = {"explanation": json.loads(str(arrays.pop("__explanation__")))}
    save_weights(tmp_path / "bad.npz", arrays, metadata)
    with pytest.raises(ExplanationFileError, match="heatmap has shape"):
        hm.Explanation.load(tmp_path / "bad.npz")


def test_html_view_colours_each_token_and_holds_the_figure(explanation):
    html = explanation._repr_html_()
    spans = re.findall(r'<span style="background:rgb\((\d+),(\d+),(\d+)\)[^"]*" title="z = ([^"]+)">([^<]*)</span>',
                       html)
    assert [token for *_, token in spans] == explanation.tokens
    for (r, g, b, z_text, _), z in zip(spans, explanation.token_z):
        assert (int(r), int(g), int(b)) == tuple(round(255 * c) for c in token_color(z))
        assert float(z_text) == pytest.approx(z, abs=0.005)
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    bundle = explanation._repr_mimebundle_()
    assert base64.b64decode(embedded) == bundle["image/png"] and bundle["text/html"] == html


def test_html_escapes_tokens_and_answer(explanation):
    odd = dataclasses.replace(explanation, tokens=["<b>", "a&b", *explanation.tokens[2:]], answer="x<y")
    html = question_html(odd)
    assert "&lt;b&gt;" in html and "a&amp;b" in html and "x&lt;y" in html and "<b><" not in html


def test_overlay_by_hand():
    """At the image's size: the map bilinear, scaled by its maximum (outlier_perc=0), blended where strong."""
    image = numpy.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=numpy.uint8)
    heat = numpy.array([[0.0, 2.0, 4.0], [4.0, 2.0, 0.0]])          # a 2×3 grid on a 4×6 image
    out = hm.overlay(image, heat, alpha=0.25, outlier_perc=0)
    assert out.dtype == numpy.uint8 and out.shape == (4, 6, 3)
    unit = bilinear(heat / 4.0, 4, 6)
    weight = 0.25 * unit[..., None]
    expected = (1 - weight) * image + weight * 255 * colormaps["magma"](unit)[..., :3]
    numpy.testing.assert_allclose(out, numpy.rint(expected), atol=1)  # the blend is float32: ±1 at a .5 tie
    assert numpy.abs(out.astype(int) - numpy.rint(expected)).mean() < 0.1
    numpy.testing.assert_array_equal(hm.overlay(image, heat, alpha=0.0), image)
    numpy.testing.assert_array_equal(hm.overlay(image, numpy.zeros((2, 3))), image)  # no map: the image as it is
    gradient = numpy.random.default_rng(1).normal(size=(3, 4, 6))  # a (3, H, W) gradient: Σ_c |·|
    numpy.testing.assert_array_equal(hm.overlay(image, gradient), hm.overlay(image, numpy.abs(gradient).sum(0)))
    assert hm.overlay(image[..., 0], heat).shape == (4, 6, 3)


@pytest.mark.parametrize("image, heat, alpha", [(numpy.zeros((4, 4, 3)), numpy.ones((2, 2)), 0.5),
                                               (numpy.zeros((4, 4, 5), numpy.uint8), numpy.ones((2, 2)), 0.5),
                                               (numpy.zeros((4, 4, 3), numpy.uint8), numpy.ones(4), 0.5),
                                               (numpy.zeros((4, 4, 3), numpy.uint8), numpy.full((2, 2), numpy.nan),
                                                0.5),
                                               (numpy.zeros((4, 4, 3), numpy.uint8), numpy.ones((2, 2)), 1.5)])
def test_overlay_refuses_what_does_not_fit(image, heat, alpha):
    with pytest.raises(FigureInputError):
        hm.overlay(image, heat, alpha=alpha)


def test_explain_batch_in_chunks_equals_one_pass_and_shows_progress(model, capsys):
    whole = hm.explain_batch(model, IMAGES, QUESTIONS)
    assert capsys.readouterr().err == ""                               # one chunk: no progress
    chunked = hm.explain_batch(model, IMAGES, QUESTIONS, batch_size=3)
    assert "explain 3/4" in capsys.readouterr().err
    for a, b in zip(whole, chunked):
        assert (a.question, a.answer, a.tokens) == (b.question, b.answer, b.tokens)
        numpy.testing.assert_allclose(b.grad_v, a.grad_v, rtol=1e-10, atol=1e-14)
        numpy.testing.assert_allclose(b.grad_q, a.grad_q, rtol=1e-10, atol=1e-14)
    hm.explain_batch(model, IMAGES, QUESTIONS, batch_size=1, progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="at least 1"):
        hm.explain_batch(model, IMAGES, QUESTIONS, batch_size=0)
