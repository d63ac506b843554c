"""The explanation where people look at it: a Figure to show, PNG and HTML for a notebook, a reusable overlay.

    image, question = hm.example()          the shipped example, wherever the package is installed
    fig = hm.plot_explanation(e)            the Figure-2 figure; in a notebook ``fig`` shows itself (PNG)
    hm.plot_explanation(e, ax=ax)           the heat-map over the image, into your own axes
    e                                        in a notebook: the coloured question and the figure
    hm.overlay(e.image, e.heatmap)           uint8 (H, W, 3) at the image's size: the map over the image

A notebook shows an :class:`Explanation` through ``_repr_mimebundle_``: the figure as PNG and, as HTML,
the question with each token on its z-score colour (as in the figure and the terminal; hover for the
z-score) above the same PNG, both from one drawing; ``print(e)`` is one line. A Figure from
:func:`plot_explanation` displays itself (``_repr_png_``) with no ``%matplotlib`` magic, and pyplot's
backend is never set: matplotlib is imported when something is drawn, not by ``import hadamard_min``.
"""
import base64
import html
import numbers

import numpy
from PIL import Image

from hadamard_min.data.example import EXAMPLE_IMAGE, example_question
from hadamard_min.data.images import ImageError, load_image
from hadamard_min.explain.arguments import ExplainArgumentError, check_explanation, shown
from hadamard_min.explain.framing import Framing, real_array, to_image
from hadamard_min.explain.maps import (
    MAGNITUDE_CMAP,
    OUTLIER_PERC,
    OVERLAY_ALPHA,
    FigureInputError,
    blend,
    check_outlier_perc,
    clipped,
)
from hadamard_min.explain.saved import check_fields

MAP_LABELS = {"hadamard": "∇v", "saliency": "∂y/∂I", "guided": "guided ∂y/∂I", "gradcam": "Grad-CAM",
              "grounded": "∇v^α", "attention": "mean α"}  # each method's map as the panels name it
HEAT_LABELS = {"grounded": "|∇v^α| ∘ mean α"}  # a heat-map that is not Σ_c |map|: its own name
OVERLAY_ROWS = 256  # rows blended at a time: a 64-megapixel overlay never holds float maps at full size


def example():
    """``(image, question)``: the shipped easy-VQA example as a uint8 (H, W, 3) array and its question."""
    return load_image(EXAMPLE_IMAGE), example_question()


def plot_explanation(explanation, title=None, z_limit=2.0, ax=None, outlier_perc=OUTLIER_PERC):
    """The paper's Figure 2 for one :class:`Explanation`, as a ``matplotlib.figure.Figure``.

    Panels: the image as given, each α_g, the map as RGB and signed (gradient methods) and its magnitude
    over the image, every map brought back to the image's size bilinearly, clipped at ``outlier_perc`` %
    (Captum's ``outlier_perc``, default 2; 0 scales by the maximum) and with a colour bar; below, the question
    coloured by token z-score, the answer and the top answers. ``title`` defaults to the question (and, for
    a gradient baseline, the method and the answer it explains). With ``ax`` (a matplotlib Axes), the
    magnitude over the image is drawn into it, with a colour bar beside it, titled ``title`` (default: the map,
    the answer and its probability), and ``ax`` is returned.
    Anything but an Explanation raises ``arguments.ExplainArgumentError``.
    """
    from hadamard_min.explain import figure, panels

    check_explanation(explanation, z_limit, title)
    check_outlier_perc(outlier_perc)
    e = explanation
    figure.check_maps(e.image, e.alpha, e.pixel_map, e.heatmap)  # in the figure's words first (FigureInputError)
    check_fields(e, "drawn")
    label = MAP_LABELS.get(e.method, e.method)
    if ax is not None:
        from matplotlib.axes import Axes

        if not isinstance(ax, Axes):
            raise ExplainArgumentError(f"ax must be None or a matplotlib Axes (fig, ax = plt.subplots()), "
                                       f"not {shown(ax)}")
        return panels.plot_into(ax, e, e.framing, HEAT_LABELS.get(e.method, label), outlier_perc, title)
    if title is None:
        title = e.question if e.target is None else f"{e.method} of “{e.target}”: {e.question}"
    return figure.explanation_figure(e.image, e.alpha, e.pixel_map, e.tokens, e.token_z, e.answer, e.probability,
                                     top_k=e.top_k, title=title, heatmap=e.heatmap, z_limit=z_limit,
                                     map_label=label, framing=e.framing, outlier_perc=outlier_perc,
                                     heat_label=HEAT_LABELS.get(e.method))


def question_html(explanation, z_limit=2.0):
    """The question as HTML: one span per token on its z-score colour (title: the z), then the answer."""
    e = explanation
    from hadamard_min.explain.terminal import format_z, text_on, token_color

    spans = []
    for token, z in zip(e.tokens, e.token_z):
        background = token_color(z, z_limit)
        css = "background:{};color:{};padding:1px 4px;margin:1px;border-radius:3px".format(
            *(f"rgb({','.join(str(round(255 * c)) for c in rgb)})" for rgb in (background, text_on(background))))
        spans.append(f'<span style="{css}" title="z = {format_z(z)}">{html.escape(token)}</span>')
    answer = f"answer: <b>{html.escape(e.answer)}</b> (p = {e.probability:.3f})"
    return f'<div style="font-family:sans-serif;line-height:1.8">{" ".join(spans)}<br>{answer}</div>'


def html_view(explanation, png):
    """The coloured question above the figure (``png``: its bytes, embedded as a data URL)."""
    image = base64.b64encode(png).decode("ascii")
    return f'{question_html(explanation)}<img src="data:image/png;base64,{image}" style="max-width:100%">'


def overlay(image, heatmap, alpha=OVERLAY_ALPHA, cmap=MAGNITUDE_CMAP, outlier_perc=OUTLIER_PERC, framing=None):
    """A map drawn over an image at the image's size: uint8 (H, W, 3), as the figure draws it.

        m = clip(h / t, 0, 1),  w = alpha · m,  out = round((1 − w) · image + w · 255 · cmap(m))

    image: uint8 (H, W), (H, W, 1–4), any size, or a PIL image, read as :func:`hm.explain` reads it (upright by
    its EXIF orientation, a palette's colours, alpha on white: the picture ``e.image`` holds). heatmap: (h, w),
    or (C, h, w) of which Σ_c |·| is taken (a gradient), on any grid: it is brought to H × W bilinearly
    (:func:`framing.to_image`; ``framing``, e.g. ``e.framing``, places a padded or cropped network input,
    default the whole image). t is the map's outlier threshold (:func:`maps.outlier_threshold`,
    ``outlier_perc`` % of its mass clipped). Where the map is weak the image keeps its own colours.
    """
    try:  # a PIL image not by numpy.asarray, which would give a palette's indices, a photo's pixels unturned
        image = load_image(image if isinstance(image, Image.Image) else numpy.asarray(image))
    except ImageError as error:  # as hm.explain refuses it
        raise FigureInputError(str(error)) from None
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
        raise FigureInputError(f"alpha must be a number in [0, 1], not {alpha!r:.40}")  # repr: array(0.5), not 0.5
    from matplotlib import colormaps

    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ExplainArgumentError(f"cmap must be the name of a matplotlib colormap (e.g. {MAGNITUDE_CMAP!r}, "
                                   f"'viridis'), not {shown(cmap)}")
    if framing is not None and not isinstance(framing, Framing):
        raise ExplainArgumentError(f"framing must be None or an explanation's e.framing, not {shown(framing)}")
    heat = real_array(heatmap)
    if heat is None:
        raise ExplainArgumentError(f"heatmap must be an array of real numbers, (h, w) or (C, h, w), "
                                   f"not {shown(heatmap)}")
    heat = heat.astype(numpy.float64)
    if heat.ndim not in (2, 3) or heat.size == 0 or not numpy.isfinite(heat).all():
        raise FigureInputError(f"heatmap must be a finite (h, w) or (C, h, w) map, got shape {heat.shape}")
    peak = numpy.abs(heat).max()
    if peak > 0:  # the picture depends on h / t alone: scaled first, no value under- or overflows float32
        heat = heat / peak
    if heat.ndim == 3:
        heat = numpy.abs(heat).sum(axis=0)
    rgb = image  # (H, W, 3): a gray image's value in each channel
    framing = framing or Framing.whole(*rgb.shape[:2], heat.shape[0])
    if framing.image_size != rgb.shape[:2]:
        raise FigureInputError(f"framing is for a {framing.image_size} image, not {rgb.shape[:2]}")
    strength = clipped(heat, outlier_perc)
    out = numpy.empty_like(rgb)
    for top in range(0, rgb.shape[0], OVERLAY_ROWS):
        rows = slice(top, top + OVERLAY_ROWS)
        out[rows] = blend(rgb[rows], numpy.clip(to_image(strength, framing, rows=rows), 0, 1), alpha, cmap)
    return out
