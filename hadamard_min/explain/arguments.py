"""The Python API's arguments checked where they come in, before any of them reaches the network.

    explain(model, image, question, method=…, answer=…)           one image (a path, a PIL image or a uint8
                                                                  array), one string, one answer
    explain_batch(model, images, questions, method=…, answer=…)   a list (or tuple) of images and a list of
                                                                  strings, as long; one answer or one per pair
    plot_explanation(explanation)               an Explanation (Explanation.load(path) reads a saved one)

Anything else raises :class:`ExplainArgumentError`, whose message names the argument, what was given and
what is expected. The images themselves are read (and refused with ``images.ImageError``) by
``images.load_image``; a question without words by ``text.QuestionError``.
"""
import numbers
import os

import numpy
from PIL import Image

from hadamard_min.data.text import QuestionError
from hadamard_min.models.vqa import VQAModel

SIGNS = ("paper", "code")
METHODS = ("hadamard", "guided", "saliency", "gradcam", "grounded", "attention")  # explain(method=…)
FIGURE_FIELDS = ("question", "tokens", "token_z", "token_scores", "answer", "probability", "top_k", "image", "alpha",
                 "pixel_map", "heatmap", "grad_v", "grad_q", "method", "target", "input_image", "framing",
                 "unknown_words", "options")


class ExplainArgumentError(ValueError):
    """An argument of the explanation API that it cannot use (a user error)."""


def shown(value, limit=60):
    """``value`` for a message: its type and, for a short value, the value itself."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= limit else text[:limit] + '…'}"


def check_model(model):
    if not isinstance(model, VQAModel):
        hint = "; read a file with hm.load_model(path) first" if isinstance(model, str) else ""
        raise ExplainArgumentError(f"model must be a VQA model (hm.load_model()), not {shown(model)}{hint}")
    model.check_device()


def check_image(image, name="image"):
    """The kind of an image only; what it holds is checked where it is read (``images.load_image``)."""
    if not isinstance(image, (str, os.PathLike, Image.Image, numpy.ndarray)):
        raise ExplainArgumentError(f"{name} must be a file path, a PIL image or a uint8 array, not {shown(image)}")


class QuestionArgumentError(ExplainArgumentError, QuestionError):
    """A question that is not a string: an argument error, and a question the model cannot read."""


def check_question(question, name="question"):
    if not isinstance(question, str):
        raise QuestionArgumentError(f"{name} must be a string, not {shown(question)}")


def check_pairs(images, questions):
    """The lists of a batch: one image per question, each question a string; returns them as lists."""
    if isinstance(questions, (str, bytes)) or not isinstance(questions, (list, tuple)):
        hint = " (for one question use hm.explain, or pass [question])" if isinstance(questions, str) else \
            "; pass list(...)"
        raise ExplainArgumentError(f"questions must be a list of strings, not {shown(questions)}{hint}")
    for i, question in enumerate(questions):
        check_question(question, f"questions[{i}]")
    if isinstance(images, numpy.ndarray) and images.ndim == 4:
        images = list(images)                    # N images stacked (N, H, W, 3)
    if not isinstance(images, (list, tuple)):
        hint = " (for one image use hm.explain, or pass [image])" if isinstance(images, str) else \
            "; pass list(...)"
        raise ExplainArgumentError(f"images must be a list of images (paths, PIL images or uint8 arrays), "
                                   f"not {shown(images)}{hint}")
    if len(images) != len(questions) or not questions:
        raise ExplainArgumentError(f"images and questions: {len(images)} images and {len(questions)} questions; "
                                   f"pass one image per question, at least one")
    for i, image in enumerate(images):
        check_image(image, f"images[{i}]")
    return list(images), list(questions)


def check_options(top_k=5, batch_size=64, progress=None, fix_f=True, sign="paper", guided=True, workers=1):
    """The keyword options shared by explain and explain_batch (``workers``: None or ≥ 1)."""
    for name, value in (("top_k", top_k), ("batch_size", batch_size), ("workers", 1 if workers is None else workers)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ExplainArgumentError(f"{name} must be a whole number at least 1, not {shown(value)}")
    for name, value in (("fix_f", fix_f), ("guided", guided)):
        if not isinstance(value, (bool, numpy.bool_)):
            raise ExplainArgumentError(f"{name} must be True or False, not {shown(value)}")
    if progress is not None and not isinstance(progress, (bool, numpy.bool_)):
        raise ExplainArgumentError(f"progress must be None, True or False, not {shown(progress)}")
    if not isinstance(sign, str) or sign not in SIGNS:
        raise ExplainArgumentError(f"sign must be one of {', '.join(SIGNS)}, not {shown(sign)}")


def check_explanation(explanation, z_limit=2.0, title=None):
    """The arguments of plot_explanation: an Explanation (anything with its fields; what they hold:
    :func:`saved.check_fields`)."""
    if not all(hasattr(explanation, name) for name in FIGURE_FIELDS):
        hint = "; read a saved one with hm.Explanation.load(path)" if isinstance(explanation, str) else ""
        raise ExplainArgumentError(f"explanation must be an Explanation (from hm.explain), "
                                   f"not {shown(explanation)}{hint}")
    if not isinstance(z_limit, numbers.Real) or isinstance(z_limit, bool) or not 0 < z_limit < float("inf"):
        raise ExplainArgumentError(f"z_limit must be a positive finite number, not {shown(z_limit)}")
    if title is not None and not isinstance(title, str):
        raise ExplainArgumentError(f"title must be None or a string, not {shown(title)}")
    for name in ("alpha", "pixel_map", "heatmap"):  # the maps the figure scales and draws
        values = getattr(explanation, name)
        try:
            values = None if values is None else numpy.asarray(values, dtype=numpy.float64)
        except (TypeError, ValueError):
            raise ExplainArgumentError(f"the explanation's {name} is not an array of numbers: it cannot be drawn "
                                       f"(was it changed after hm.explain?)") from None
        if values is not None and not (numpy.abs(values) <= numpy.finfo(numpy.float32).max).all():
            raise ExplainArgumentError(f"the explanation's {name} holds NaN, infinity or values beyond float32: "
                                       f"it cannot be drawn (was it changed after hm.explain?)")
