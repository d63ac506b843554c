"""Explanations as arrays for other tools: N × C × S × S maps and N × T token scores, e.g. for Captum or Quantus.

    s = hm.stack(hm.explain_batch(model, images, questions, method="saliency"))
    s.maps          float32 (N, C, S, S)  the attribution at the network's input: the raw gradient ∇v (or
                                          ∂y/∂I) for a gradient method (C = 3), the heat-map for Grad-CAM,
                                          the grounded map and attention (C = 1)
    s.inputs        uint8 (N, S, S, 3)    what the network saw (the images after the fit)
    s.token_scores  float32 (N, T)        eq. 10's scores, T = the longest question; 0 after a question's end
    s.token_z       float32 (N, T)        eq. 11's z-scores, 0 after a question's end (NaN where a method
                                          has none: attention)
    s.token_mask    bool (N, T)           True at a question's real tokens, False at padding
    s.tokens        [[str]] (N × T)       each question's tokens padded with ""
    s.answers       [str]                 each pair's answer (the model's, or the explained one)

Captum's view of one map (channels last, the network's picture as the background)::

    from captum.attr import visualization
    visualization.visualize_image_attr(s.maps[0].transpose(1, 2, 0), s.inputs[0], method="blended_heat_map",
                                       sign="absolute_value", outlier_perc=2)

A Quantus metric that needs no model (here sparseness, the Gini index of each map; maps of one channel
broadcast against x_batch as Quantus expects)::

    import quantus
    x = (s.inputs.transpose(0, 3, 1, 2) / 255).astype("float32")
    scores = quantus.Sparseness(disable_warnings=True)(model=None, x_batch=x, y_batch=numpy.zeros(len(x), int),
                                                       a_batch=s.maps, channel_first=True)
"""
from dataclasses import dataclass

import numpy

from hadamard_min.explain.arguments import ExplainArgumentError, check_explanation, shown
from hadamard_min.explain.saved import check_fields

WEIGHTED = ("grounded",)  # methods whose map is a weighted heat-map, not their gradient: stacked as the heat-map


@dataclass
class Stacked:
    """Explanations of one model as arrays (see the module's docstring for each field)."""
    maps: object
    inputs: object
    token_scores: object
    token_z: object
    token_mask: object
    tokens: list
    answers: list
    method: str


def stack(explanations):
    """N explanations of one model and one method as arrays: a :class:`Stacked`.

    Their network inputs, attention maps and word vectors must share their sizes (one model) and their
    method; anything else raises ``arguments.ExplainArgumentError``.
    """
    if isinstance(explanations, (str, bytes)) or not hasattr(explanations, "__len__") or not len(explanations):
        raise ExplainArgumentError(f"explanations must be a non-empty list of Explanations, not {shown(explanations)}")
    explanations = list(explanations)
    for e in explanations:
        check_explanation(e)
        check_fields(e, "stacked")
    methods = sorted({e.method for e in explanations})
    inputs = [e.image if e.input_image is None else e.input_image for e in explanations]  # None: the image as seen
    sizes = sorted({seen.shape for seen in inputs})
    if len(methods) > 1 or len(sizes) > 1:
        raise ExplainArgumentError(f"stack explanations of one model and one method, not methods {methods} "
                                   f"and network inputs {sizes}")
    shapes = sorted({_model_shape(e) for e in explanations}, key=str)
    if len(shapes) > 1:
        raise ExplainArgumentError(f"stack explanations of one model, not of models with attention maps and word "
                                   f"vectors of the shapes {', '.join(map(str, shapes))}")
    maps = [numpy.asarray(e.heatmap[None] if e.grad_v is None or e.method in WEIGHTED else e.grad_v)
            for e in explanations]
    shapes = sorted({m.shape for m in maps})
    if len(shapes) > 1:  # of one method, one with ∇v and one without: set by hand
        raise ExplainArgumentError(f"stack explanations whose maps have one shape, not {shapes} "
                                   f"(was grad_v changed after hm.explain?)")
    maps = numpy.stack(maps)
    longest = max(len(e.tokens) for e in explanations)
    mask = numpy.zeros((len(explanations), longest), bool)
    scores, z = numpy.zeros(mask.shape, numpy.float32), numpy.zeros(mask.shape, numpy.float32)
    for n, e in enumerate(explanations):
        mask[n, :len(e.tokens)] = True
        scores[n, :len(e.tokens)] = e.token_scores
        z[n, :len(e.tokens)] = e.token_z
    return Stacked(maps=maps.astype(numpy.float32), inputs=numpy.stack(inputs),
                   token_scores=scores, token_z=z, token_mask=mask,
                   tokens=[list(e.tokens) + [""] * (longest - len(e.tokens)) for e in explanations],
                   answers=[e.target or e.answer for e in explanations], method=methods[0])


def _model_shape(e):
    """What an explanation shows of its model's build: its attention maps' shape (G, S', S') and the width of
    its word vectors (None where the method has none); two models of one build cannot be told apart."""
    return tuple(numpy.shape(e.alpha)), None if e.grad_q is None else numpy.shape(e.grad_q)[-1]
