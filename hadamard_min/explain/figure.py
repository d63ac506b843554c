"""Figures of the explanation, drawn like Figure 2 of the paper, and grids of maps for reports.

One row per example, every panel the whole image as the user gave it (its own size and aspect ratio):

    input image | α_1 | … | α_G | ∇v as RGB | ∇v signed | |∇v| over the image
    question, each token coloured by its z-score (eq. 11)        answer (p), top-k, z colour bar

* The maps live on the network's grid and come back to the image bilinearly (:mod:`explain.framing`); the
  input panel's note says what the network saw (e.g. "741×500, model saw 64×64 (stretch)").
* α_g and the heat-map h = Σ_c |∇v| are magnitudes: ``magma`` blended over the image where they are strong
  (the image keeps its colours elsewhere), clipped at Captum's outlier threshold (``outlier_perc``, default
  2 %), each with a colour bar of its values (:mod:`explain.panels`).
* ∇v as RGB is the paper's picture (:func:`maps.pixel_map_to_rgb`); ∇v signed is Σ_c ∇̂v on ``RdBu_r``
  centred at 0, clipped the same way.
* Token colours: :mod:`terminal`'s ``RdBu_r`` on [−limit, +limit] (red = high z, blue = low z).

Everything draws on a private :class:`ExplanationFigure` (a ``matplotlib.figure.Figure`` with the Agg
canvas that a notebook shows as PNG without ``%matplotlib``), so no display is needed and the caller's
pyplot backend is never touched. Text is drawn as it is, except what cannot be (a lone surrogate, left by a
file name or argument that is not UTF-8, becomes U+FFFD); a glyph missing from the font is left blank
without a warning. Files are written atomically (:mod:`hadamard_min.io.atomic`); a missing parent folder is
an error, not created silently: a typo in an output path should not scatter folders.
"""
import io

import numpy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from hadamard_min.explain import panels
from hadamard_min.explain.framing import Framing
from hadamard_min.explain.maps import OUTLIER_PERC, FigureInputError, pixel_map_to_rgb
from hadamard_min.explain.terminal import TOKEN_CMAP, check_tokens, format_z, text_on, token_color
from hadamard_min.io.atomic import utf8_safe, write_atomically

PANEL_IN = 2.0          # panel width, inches
GAP_IN = 0.15           # between panels
MARGIN_IN = 0.25        # around the figure
TOKEN_PT = 12           # token font size, points
TOKEN_PAD = 0.25        # box padding, in units of the font size
TOKEN_GAP_PT = 5.0      # space between token slots
Z_LABEL_PT = 7          # z-score under each token
TOKEN_LINE_IN = 0.5     # one line of tokens (box + z below)
BAR_IN = 0.45           # the row of colour bars under the map panels
DPI = 150
NOTEBOOK_DPI = 100      # a notebook shows the figure about a cell wide: 100 dpi is enough and a third the size


class ExplanationFigure(Figure):
    """A Figure that a notebook displays by itself (``_repr_png_``), whatever pyplot's backend."""

    def _repr_png_(self):
        return figure_png(self, NOTEBOOK_DPI)


def figure_png(figure, dpi=DPI):
    """The PNG bytes of a Figure, in memory."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    with panels.missing_glyphs_blank():
        figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def check_maps(image, alpha, pixel_map, heatmap):
    """The image and maps as the figure draws them, each of a shape it can draw (FigureInputError)."""
    image = numpy.asarray(image)
    if image.dtype != numpy.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise FigureInputError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    alpha = numpy.asarray(alpha, dtype=numpy.float64)
    if alpha.ndim == 2:
        alpha = alpha[None]
    if alpha.ndim != 3 or alpha.shape[0] < 1:
        raise FigureInputError(f"alpha must have shape (G, S, S), got {alpha.shape}")
    pixel_map = None if pixel_map is None else numpy.asarray(pixel_map, dtype=numpy.float64)
    if pixel_map is not None and (pixel_map.ndim != 3 or pixel_map.shape[0] != 3 or
                                  pixel_map.shape[1] != pixel_map.shape[2]):
        raise FigureInputError(f"pixel_map must be (3, S, S) on the network's square grid, got {pixel_map.shape}")
    if heatmap is None and pixel_map is None:
        raise FigureInputError("give a heatmap where there is no pixel_map")
    heat = numpy.abs(pixel_map).sum(axis=0) if heatmap is None else numpy.asarray(heatmap, dtype=float)
    if heat.ndim != 2 or (pixel_map is not None and heat.shape != pixel_map.shape[1:]):
        raise FigureInputError(f"heatmap must be (h, w) on the pixel_map's grid "
                               f"{None if pixel_map is None else pixel_map.shape[1:]}, got {heat.shape}")
    return image, alpha, pixel_map, heat


def _wrap(widths, line_width, gap):
    """Greedy line breaking: lists of item indices whose widths (plus gaps) fit in ``line_width``."""
    lines, current, used = [], [], 0.0
    for index, width in enumerate(widths):
        needed = width if not current else used + gap + width
        if current and needed > line_width:
            lines.append(current)
            current, needed = [], width
        current.append(index)
        used = needed
    return [*lines, current] if current else lines


def save_figure(fig, path):
    FigureCanvasAgg(fig)

    def write(stream):
        with panels.missing_glyphs_blank():
            fig.savefig(stream, format="png", dpi=DPI)

    return write_atomically(path, write)


def save_explanation_figure(path, *args, **kwargs):
    """:func:`explanation_figure` saved as a PNG; returns the path.

    A missing output folder raises :class:`OutputFolderError` (a FileNotFoundError).
    """
    return save_figure(explanation_figure(*args, **kwargs), path)


def explanation_figure(image, alpha, pixel_map, tokens, token_z, answer, probability, top_k=None, title=None,
                       heatmap=None, z_limit=2.0, map_label="∇v", framing=None, outlier_perc=OUTLIER_PERC,
                       heat_label=None):
    """One explanation drawn like the paper's Figure 2: an :class:`ExplanationFigure` (Agg canvas).

    image: uint8 (H, W, 3) as the user gave it; alpha: (G, S', S') attention maps ((S', S') means G = 1);
    pixel_map: (3, S, S) standardised gradient (eq. 9) on the network's grid; tokens / token_z: the
    question's tokens and their z-scores (eq. 11); answer / probability: the prediction; top_k: optional
    [(answer, probability), ...]; heatmap: optional (S, S) map for the last panel (default Σ_c
    |pixel_map_c|); z_limit: the token colour scale's ±limit; map_label: the map's name in the panel
    titles; framing: where the network's square lies on the image (:class:`framing.Framing`; default: the
    whole image, stretched); outlier_perc: the maps' clipping (:func:`maps.outlier_threshold`); heat_label:
    the last panel's name when ``heatmap`` is not Σ_c |map| (default ``|map_label|``).
    ``pixel_map=None`` (a method with no gradient at the pixels, given a ``heatmap``) leaves out the RGB
    and signed panels. Any number of tokens fits: they wrap onto as many lines as needed.
    """
    image, alpha, pixel_map, heat = check_maps(image, alpha, pixel_map, heatmap)
    check_tokens(tokens, token_z)
    height, width = image.shape[:2]
    framing = framing or Framing.whole(height, width, heat.shape[0])

    n_panels = 1 + alpha.shape[0] + (1 if pixel_map is None else 3)
    fig_w = max(2 * MARGIN_IN + n_panels * PANEL_IN + (n_panels - 1) * GAP_IN, 7.0)
    panel_h = min(max(PANEL_IN * height / width, 0.4), 2.5 * PANEL_IN)
    # a token's slot: its box, or its z label below if that is wider
    token_widths = [max(panels.text_width_pt(t, TOKEN_PT) + 2 * TOKEN_PAD * TOKEN_PT,
                        panels.text_width_pt(format_z(z), Z_LABEL_PT) + 4.0) for t, z in zip(tokens, token_z)]
    token_lines = _wrap(token_widths, (fig_w - 2 * MARGIN_IN) * 72.0 - 30.0, TOKEN_GAP_PT) or [[]]
    top_k_text = [f"{name} {p:.3f}" for name, p in (top_k or [])]
    top_k_lines = _wrap([panels.text_width_pt(t + "  · ", 10) for t in top_k_text], (fig_w - 2 * MARGIN_IN) * 72.0
                        - 40.0, 0.0)

    heights = [MARGIN_IN, 0.4 if title else 0.0, 0.3, panel_h, 0.35 + BAR_IN,
               0.3 + TOKEN_LINE_IN * len(token_lines), 0.55, 0.28 * len(top_k_lines), MARGIN_IN]
    fig_h = sum(heights)
    fig = ExplanationFigure(figsize=(fig_w, fig_h), dpi=DPI, facecolor="white")

    def y_of(inches_from_top):
        return 1.0 - inches_from_top / fig_h

    if title:
        fig.text(0.5, y_of(MARGIN_IN + 0.2), utf8_safe(title), ha="center", va="center", fontsize=13, weight="bold",
                 parse_math=False)
    top = sum(heights[:3])

    def left(i):
        return (MARGIN_IN + i * (PANEL_IN + GAP_IN)) / fig_w

    axes = [fig.add_axes((left(i), y_of(top + panel_h), PANEL_IN / fig_w, panel_h / fig_h)) for i in range(n_panels)]
    bars = [fig.add_axes((left(i) + 0.1 * PANEL_IN / fig_w, y_of(top + panel_h + 0.35 + 0.12),
                          0.8 * PANEL_IN / fig_w, 0.08 / fig_h)) for i in range(1, n_panels)]
    panels.image_panel(axes[0], image, framing)
    for g, glimpse in enumerate(alpha):
        panels.magnitude_panel(axes[1 + g], bars[g], image, glimpse, framing, f"α{g + 1} (eq. 4)",
                               f"{glimpse.shape[0]}×{glimpse.shape[1]} cells, max {glimpse.max():.3f}", outlier_perc)
    if pixel_map is not None:
        bars[-3].set_axis_off()
        panels.rgb_panel(axes[-3], pixel_map_to_rgb(pixel_map), framing, f"{map_label} (RGB)")
        panels.signed_panel(axes[-2], bars[-2], pixel_map.sum(axis=0), framing, f"{map_label} signed (Σ RGB)",
                            outlier_perc)
    panels.magnitude_panel(axes[-1], bars[-1], image, heat, framing,
                           f"{heat_label or f'|{map_label}|'} over the image",
                           "Σ |·| over RGB" if pixel_map is not None and heat_label is None else None, outlier_perc)

    y = top + panel_h + heights[4]
    _draw_tokens(fig, tokens, token_z, token_widths, token_lines, fig_w, y_of, y, z_limit)
    y += heights[5]
    fig.text(MARGIN_IN / fig_w, y_of(y + 0.25), utf8_safe(f"answer: {answer}   (p = {probability:.3f})"),
             fontsize=13, weight="bold", va="center", parse_math=False)
    colorbar_ax = fig.add_axes(((fig_w - MARGIN_IN - 2.0) / fig_w, y_of(y + 0.22), 2.0 / fig_w, 0.1 / fig_h))
    colorbar = fig.colorbar(ScalarMappable(Normalize(-z_limit, z_limit), TOKEN_CMAP), cax=colorbar_ax,
                            orientation="horizontal")
    colorbar.ax.tick_params(labelsize=7, length=2, pad=1)
    colorbar.ax.set_title("token z-score", fontsize=8, pad=2)
    y += heights[6]
    for number, line in enumerate(top_k_lines):
        prefix = f"top-{len(top_k_text)}: " if number == 0 else " " * 8
        fig.text(MARGIN_IN / fig_w, y_of(y + 0.14 + 0.28 * number), utf8_safe(prefix + "  · ".join(
            top_k_text[i] for i in line)), fontsize=10, va="center", parse_math=False)
    FigureCanvasAgg(fig)
    return fig


def _draw_tokens(fig, tokens, token_z, widths, lines, fig_w, y_of, y, z_limit):
    """The question, one coloured box per token, its z-score in small print below."""
    fig.text(MARGIN_IN / fig_w, y_of(y + 0.12), "question", fontsize=9, color="0.35", va="center")
    if not tokens:
        fig.text(MARGIN_IN / fig_w, y_of(y + 0.5), "(no tokens)", fontsize=TOKEN_PT, va="center")
    for number, line in enumerate(lines):
        x_pt = MARGIN_IN * 72.0
        line_y = y + 0.3 + TOKEN_LINE_IN * number
        for index in line:
            color = token_color(token_z[index], z_limit)
            centre = (x_pt + widths[index] / 2) / 72.0 / fig_w
            fig.text(centre, y_of(line_y + 0.12), utf8_safe(tokens[index]), fontsize=TOKEN_PT, color=text_on(color),
                     ha="center", va="center", parse_math=False,
                     bbox={"boxstyle": f"round,pad={TOKEN_PAD}", "facecolor": color, "edgecolor": "0.6",
                           "linewidth": 0.5})
            fig.text(centre, y_of(line_y + 0.36), format_z(token_z[index]), fontsize=Z_LABEL_PT,
                     color="0.35", ha="center", va="center")
            x_pt += widths[index] + TOKEN_GAP_PT


_GRID_KINDS = ("image", "heatmap", "rgb")


def _draw_grid_panel(ax, array, kind):
    array = numpy.asarray(array)
    if kind == "image":
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None)
    elif kind == "heatmap":
        panels.grid_magnitude_panel(ax, array, OUTLIER_PERC)
    else:
        ax.imshow(pixel_map_to_rgb(array))


def save_grid_figure(path, rows):
    """:func:`grid_figure` saved as a PNG; returns the path."""
    return save_figure(grid_figure(rows), path)


def grid_figure(rows):
    """A grid of panels for reports, each row under its own title (a Figure).

    rows: [(row_title, [(panel_title, array, kind), ...]), ...] with kind "image" (an (H, W, 3) picture,
    uint8 or floats in [0, 1], or an (H, W) grayscale), "heatmap" (an (H, W) magnitude, ``magma`` clipped
    at :data:`maps.OUTLIER_PERC`, its colour bar beside) or "rgb" (a standardised (3, H, W) gradient drawn by
    :func:`pixel_map_to_rgb`). Rows may hold different numbers of panels; a panel title wider than its
    panel (a long file name) is elided in the middle (:func:`panels.fitted`).
    """
    if not rows or not any(row for _, row in rows):
        raise FigureInputError("a grid needs at least one row with one panel")
    for _, row in rows:
        for panel_title, _, kind in row:
            if kind not in _GRID_KINDS:
                raise FigureInputError(f"panel {panel_title!r} has kind {kind!r}: use one of {_GRID_KINDS}")
    n_cols = max(len(row) for _, row in rows)
    fig = Figure(figsize=(0.3 + 2.0 * n_cols, 0.2 + 2.6 * len(rows)), dpi=DPI, facecolor="white")
    for subfigure, (row_title, row) in zip(numpy.atleast_1d(fig.subfigures(len(rows), 1)), rows):
        subfigure.suptitle(utf8_safe(row_title), x=0.02, ha="left", fontsize=11, weight="bold", parse_math=False)
        axes = subfigure.subplots(1, n_cols, squeeze=False)[0]
        subfigure.subplots_adjust(left=0.02, right=0.98, top=0.8, bottom=0.04, wspace=0.08)
        for c, ax in enumerate(axes):
            if c >= len(row):
                ax.set_axis_off()
                continue
            panel_title, array, kind = row[c]
            _draw_grid_panel(ax, array, kind)
            panels.finish(ax, panels.fitted(panel_title, ax.bbox.width * 72.0 / ax.figure.dpi, 10))
    return fig
