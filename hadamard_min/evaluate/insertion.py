"""Deletion and insertion over 0 … 100 % of the pixels (Petsiuk et al. 2018, RISE), under several fills.

The 1 … 50 % deletion of :mod:`faithfulness` paints the deleted pixels one colour. What "deleted" means
decides what the curve measures, so here every fill is named and both directions are measured:

    deletion    x_k = the image with its top k % pixels (by the map) replaced by the fill's pixels
    insertion   x_k = the fill with the top k % pixels of the image put back
    AUC         mean over k ∈ [0, 100] % of p(â | x_k, q) (trapezoid rule), â the answer on the image

Deletion: lower is better (the answer falls as soon as what the map found is gone); insertion: higher is
better (the answer comes back as soon as it is put back). The fills (:data:`FILLS`):

    background colour     the scene's own background (the most common border colour)
    normalisation's zero  the mean colour of the normalisation (the network's input 0, "ImageNet mean")
    blurred image         the image under a Gaussian blur of radius H/16 (Petsiuk et al.'s insertion start)
"""
import numpy
from PIL import Image, ImageFilter

from hadamard_min.data.easyvqa import background_color
from hadamard_min.evaluate.faithfulness import answer_probabilities
from hadamard_min.evaluate.metrics import deletion_auc, deletion_order

FULL_PERCENTS = tuple(range(0, 101, 10))  # k = 0, 10, …, 100 % of the pixels


def background_fill(model, image):
    return numpy.broadcast_to(background_color(image), image.shape)


def zero_fill(model, image):
    """The colour whose normalised value is 0 in every channel: round(255 · mean)."""
    mean = numpy.round(255 * numpy.asarray(model.mean)).astype(numpy.uint8)
    return numpy.broadcast_to(mean, image.shape)


def blurred_fill(model, image):
    radius = image.shape[0] / 16
    return numpy.asarray(Image.fromarray(numpy.asarray(image)).filter(ImageFilter.GaussianBlur(radius)))


FILLS = {"background colour": background_fill, "normalisation's zero": zero_fill, "blurred image": blurred_fill}


def mixed_images(first, second, order, percents=FULL_PERCENTS):
    """uint8 (K, H, W, 3): ``first`` with the first k % of the pixels in ``order`` taken from ``second``."""
    height, width, _ = first.shape
    images = numpy.repeat(numpy.asarray(first)[None], len(percents), axis=0)
    for row, percent in enumerate(percents):
        ys, xs = numpy.unravel_index(order[:round(height * width * percent / 100)], (height, width))
        images[row, ys, xs] = second[ys, xs]
    return images


def deletion_insertion(model, images, questions, maps, rng, percents=FULL_PERCENTS):
    """``{(fill, "deletion" | "insertion"): p (B, K)}``: p(â) along each curve, â the answer on the image."""
    ids, lengths = model.encode_questions(questions)
    answers, _ = answer_probabilities(model, images, ids, lengths)
    orders = [deletion_order(m, rng) for m in maps]
    repeat = len(percents)
    curves = {}
    for fill_name, fill in FILLS.items():
        fills = [numpy.ascontiguousarray(fill(model, image)) for image in images]
        for direction in ("deletion", "insertion"):
            pairs = zip(images, fills) if direction == "deletion" else zip(fills, images)
            perturbed = numpy.concatenate([mixed_images(a, b, order, percents)
                                           for (a, b), order in zip(pairs, orders)])
            _, p = answer_probabilities(model, perturbed, numpy.repeat(ids, repeat, axis=0),
                                        numpy.repeat(lengths, repeat), numpy.repeat(answers, repeat))
            curves[fill_name, direction] = p.reshape(len(images), repeat)
    return curves


def add_deletion_insertion(model, images, questions, maps, rng, values, name, means):
    """Add each example's AUCs to table "deletion and insertion, 0–100 %" and the curves to ``means``."""
    for (fill, direction), p in deletion_insertion(model, images, questions, maps, rng).items():
        values.add("deletion and insertion", name, f"{direction} AUC, {fill}",
                   [deletion_auc(pk, FULL_PERCENTS) for pk in p])
        means[f"{direction}, {fill}"][name].extend(p.tolist())
