"""The figures' structure on freshly drawn figures: panels, colour bars, sizes; the docs' figure has the same;
a user's axes; a Figure that shows itself in a notebook."""
import io
from pathlib import Path

import numpy
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.explain.figure import NOTEBOOK_DPI, ExplanationFigure, figure_png, grid_figure, save_grid_figure
from hadamard_min.explain.maps import FigureInputError, clipped, outlier_threshold

DOCS = Path(__file__).resolve().parent.parent / "docs"
PHOTO = numpy.random.default_rng(5).integers(0, 256, (50, 74, 3), dtype=numpy.uint8)


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


def panels_and_bars(figure):
    """(map panels with an image, colour-bar axes) of a figure."""
    bars = [ax for ax in figure.axes if hasattr(ax, "_colorbar")]
    return [ax for ax in figure.axes if ax.images and ax not in bars], bars


def test_the_explanation_figure_has_its_panels_colour_bars_and_the_images_aspect(model):
    e = hm.explain(model, PHOTO, "What color is the circle?")
    figure = hm.plot_explanation(e)
    panels, bars = panels_and_bars(figure)
    titles = [ax.get_title() for ax in panels]
    assert titles == ["input", "α1 (eq. 4)", "α2 (eq. 4)", "∇v (RGB)", "∇v signed (Σ RGB)", "|∇v| over the image"]
    assert len(bars) == 5  # α1, α2, signed, |∇v| and the token z-scores
    for ax in panels:
        box = ax.get_position()
        width, height = box.width * figure.get_figwidth(), box.height * figure.get_figheight()
        assert abs(width / height - 74 / 50) < 0.02, ax.get_title()  # the image's own aspect ratio
        assert ax.images[0].get_extent() == [0, 74, 50, 0]
    assert "74×50, model saw 16×16 (stretch)" in panels[0].get_xlabel()
    assert panels[-1].images[0].get_array().shape[:2] == (405, 600)  # resampled to the panel, not 16×16
    png = Image.open(io.BytesIO(figure._repr_png_()))
    assert abs(png.size[0] - figure.get_figwidth() * NOTEBOOK_DPI) <= 1 and \
        abs(png.size[1] - figure.get_figheight() * NOTEBOOK_DPI) <= 1


def test_the_docs_figure_is_drawn_as_the_code_draws_it_now():
    """docs/explanation.png is `hadamard-explain --out docs/explanation.png`: same size as a fresh drawing."""
    image, question = hm.example()
    e = hm.explain(hm.load_model(), image, question)
    fresh = Image.open(io.BytesIO(figure_png(hm.plot_explanation(e, title=f"example.png: {question}"))))
    assert Image.open(DOCS / "explanation.png").size == fresh.size
    panels, bars = panels_and_bars(hm.plot_explanation(e))
    assert len(panels) == 6 and len(bars) == 5


def test_plot_explanation_draws_into_a_users_axes(model):
    e = hm.explain(model, PHOTO, "What color is the circle?", method="gradcam", answer="no")
    figure = Figure()
    ax = figure.add_subplot(1, 2, 2)
    assert hm.plot_explanation(e, ax=ax) is ax
    assert len(ax.images) == 1 and ax.images[0].get_extent() == [0, 74, 50, 0]
    assert "Grad-CAM" in ax.get_title() and e.answer in ax.get_title()
    assert len(panels_and_bars(figure)[1]) == 1


def test_a_figure_displays_itself_without_matplotlib_magic(model):
    figure = hm.plot_explanation(hm.explain(model, PHOTO, "is there a red shape"))
    assert isinstance(figure, ExplanationFigure) and isinstance(figure, Figure)
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_outlier_threshold_is_captums_cumulative_rule():
    values = numpy.array([20.0, 40.0, 10.0, 30.0])        # sorted cumulative sums: 10, 30, 60, 100
    assert outlier_threshold(values, 2) == 40.0            # 98 % of the mass is reached at 40
    assert outlier_threshold(values, 50) == 30.0           # 50 % at 30: 40 and 30 are clipped
    numpy.testing.assert_allclose(clipped(-values, 50, signed=True), [-2 / 3, -1, -1 / 3, -1])
    numpy.testing.assert_allclose(clipped(values, 0), values / 40)
    assert outlier_threshold(numpy.zeros(4)) == 0.0 and not clipped(numpy.zeros(4)).any()
    with pytest.raises(FigureInputError):
        outlier_threshold(values, 100)


def test_grid_rows_are_titled_above_not_rotated(tmp_path):
    rows = [("class: tabby cat", [("image", PHOTO, "image"), ("map", numpy.random.default_rng(0).random((8, 8)),
                                                               "heatmap")])]
    figure = grid_figure(rows)
    assert [subfigure.get_suptitle() for subfigure in figure.subfigs] == ["class: tabby cat"]
    assert not any(ax.get_ylabel() for ax in figure.axes if not hasattr(ax, "_colorbar"))  # a bar says its scale
    assert Image.open(save_grid_figure(tmp_path / "g.png", rows)).size[0] > 300


def test_a_long_file_name_in_a_panel_title_is_elided_to_the_panel_not_run_over_its_neighbours():
    """hadamard-saliency titles its first panel "NAME, as seen": a camera's IMG_20240517_143022.jpg ran over
    the next panel's title and lost its start off the figure's edge."""
    name = "IMG_20240517_143022.jpg, as seen"
    rows = [("missile (657)", [(name, PHOTO, "image"), ("guided backprop", PHOTO, "image"), ("|map|", PHOTO, "image")])]
    figure = grid_figure(rows)
    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        title, box = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 - 1 <= title.x0 and title.x1 <= box.x1 + 1, ax.get_title()
    title = figure.axes[0].get_title()
    assert "…" in title and title.startswith("IMG_2") and title.endswith(".jpg, as seen")
    assert figure.axes[1].get_title() == "guided backprop"  # a title that fits is kept whole


def test_the_grounded_maps_panels_say_what_they_show(model):
    e = hm.explain(model, PHOTO, "What color is the circle?", method="grounded")
    panels, _ = panels_and_bars(hm.plot_explanation(e))
    titles = [ax.get_title() for ax in panels]
    assert titles[-3:] == ["∇v^α (RGB)", "∇v^α signed (Σ RGB)", "|∇v^α| ∘ mean α over the image"]
    assert panels[-1].get_xlabel() == ""  # weighted by ᾱ: not "Σ |·| over RGB"
