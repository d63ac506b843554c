"""The explanation where people look at it: a Figure to show, PNG and HTML for a notebook, a reusable overlay.

    fig = hm.plot_explanation(e)          the Figure-2 figure as a matplotlib Figure (pyplot untouched)
    e                                      in a notebook: the coloured question and the figure
    hm.overlay(e.image, e.heatmap)         uint8 (H, W, 3): a map blended over the image, e.g. for PIL

A notebook shows an :class:`Explanation` through ``_repr_mimebundle_``: the figure as PNG and, as HTML,
the question with each token on its z-score colour (as in the figure and the terminal; hover for the
z-score) above the same PNG, both from one drawing.
"""
import base64
import html
import io
import numbers

import numpy
from matplotlib import colormaps

from hadamard_min.explain.arguments import check_explanation
from hadamard_min.explain.figure import DPI, OVERLAY_ALPHA, explanation_figure
from hadamard_min.explain.maps import MAP_CMAP, FigureInputError, normalised, upsample_nearest
from hadamard_min.explain.terminal import format_z, text_on, token_color

MAP_LABELS = {"hadamard": "∇v", "saliency": "∂y/∂I", "guided": "guided ∂y/∂I", "gradcam": "Grad-CAM",
              "grounded": "|∇v^α| ∘ mean α", "attention": "mean α"}  # each method's map as the figure's panels name it


def plot_explanation(explanation, title=None, z_limit=2.0):
    """The paper's Figure 2 for one :class:`Explanation`, as a ``matplotlib.figure.Figure``.

    Panels: the input, each α_g, the map as RGB (gradient methods) and as a heat-map; below, the question
    coloured by token z-score, the answer and the top answers. ``title`` defaults to the question (and,
    for a gradient baseline, the method and the answer it explains). Anything but an Explanation raises
    ``arguments.ExplainArgumentError``.
    """
    check_explanation(explanation, z_limit, title)
    e = explanation
    if title is None:
        title = e.question if e.target is None else f"{e.method} of “{e.target}”: {e.question}"
    return explanation_figure(e.image, e.alpha, e.pixel_map, e.tokens, e.token_z, e.answer, e.probability,
                              top_k=e.top_k, title=title, heatmap=e.heatmap, z_limit=z_limit,
                              map_label=MAP_LABELS.get(e.method, e.method))


def figure_png(figure):
    """The PNG bytes of a Figure (at the figure's DPI), in memory."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def question_html(explanation, z_limit=2.0):
    """The question as HTML: one span per token on its z-score colour (title: the z), then the answer."""
    e = explanation
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


def overlay(image, heatmap, alpha=OVERLAY_ALPHA, cmap=MAP_CMAP, grey=True):
    """A map drawn over an image: uint8 (H, W, 3), as the figure's heat-map and α panels draw it.

        out = round((1 − alpha) · base + alpha · 255 · cmap(h))

    image: uint8 (H, W, 3) or (H, W); base: its luminance 0.299 R + 0.587 G + 0.114 B in all three
    channels (``grey=True``, so the map's colours stay readable) or the image itself. heatmap: (h, w), or
    (C, h, w) of which Σ_c |·| is taken (a gradient); min-max scaled to [0, 1] (a constant map gives 0)
    and upsampled nearest neighbour to H × W when its size differs (an S × S attention grid).
    """
    image = numpy.asarray(image)
    if image.dtype != numpy.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise FigureInputError(f"image must be uint8 (H, W, 3) or (H, W), got {image.dtype} {image.shape}")
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
        raise FigureInputError(f"alpha must lie in [0, 1], not {alpha}")
    heat = numpy.asarray(heatmap, dtype=numpy.float64)
    if heat.ndim == 3:
        heat = numpy.abs(heat).sum(axis=0)
    if heat.ndim != 2 or heat.size == 0 or not numpy.isfinite(heat).all():
        raise FigureInputError(f"heatmap must be a finite (h, w) or (C, h, w) map, got shape {heat.shape}")
    rgb = numpy.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    base = rgb.astype(numpy.float64)
    if grey:
        base = numpy.repeat((base @ (0.299, 0.587, 0.114))[..., None], 3, axis=2)
    heat = upsample_nearest(normalised(heat), *rgb.shape[:2])
    colours = 255.0 * colormaps[cmap](heat)[..., :3]
    return numpy.clip(numpy.rint((1.0 - alpha) * base + alpha * colours), 0, 255).astype(numpy.uint8)
