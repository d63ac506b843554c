"""Two-shape scenes in easy-VQA's style: does the explanation follow *the question*?

Every 64×64 image holds two shapes of different kinds and colours on one light background; every
question refers to one of them ("what color is the triangle?", "what shape is the blue shape?",
"is there a red circle?"), and ``referent[i]`` says which (0 or 1; −1 when a yes/no answer is "no"
and the question names no shape that is there). ``shape_masks`` holds each shape's pixels, so a map
can be scored on whether it points at the referenced shape rather than the other one.

The set is generated from a seed: the same seed gives the same images, questions and splits.
"""
import functools
from dataclasses import dataclass

import numpy
from PIL import Image, ImageDraw

from hadamard_min.data.easyvqa import COLORS, SPLITS, VAL_EVERY, DataError, EasyVQA

SHAPES = ("circle", "rectangle", "triangle")
ANSWERS = ("circle", "green", "red", "gray", "yes", "teal", "black", "rectangle", "yellow", "triangle", "brown",
           "blue", "no")  # easy-VQA's answers, in its order
RGB = {"black": (20, 20, 20), "blue": (30, 60, 220), "brown": (130, 80, 30), "gray": (128, 128, 128),
       "green": (40, 170, 60), "red": (220, 30, 30), "teal": (0, 128, 128), "yellow": (235, 215, 20)}
SIZE = 64
IMAGES = {"train": 4000, "test": 1000}


@dataclass
class TwoShapeVQA(EasyVQA):
    """An EasyVQA split plus, per image, the two shapes' masks and, per question, which shape it asks about."""

    shape_masks: numpy.ndarray = None  # bool (N, 2, 64, 64)
    shape_names: list = None  # per image: ((color, shape), (color, shape))
    referent: numpy.ndarray = None  # int64 (Q,): 0 or 1, or −1 for none


def _draw(draw, shape, box, color):
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "rectangle":
        draw.rectangle(box, fill=color)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=color)


def _scene(rng, share=None):
    """Two shapes in the left and right (or top and bottom) halves, so they never overlap.

    They differ in kind and colour; ``share`` = "color" or "shape" gives the second the first's colour
    or kind instead (the counterfactual test's harder scenes; the draws are the same either way).
    """
    background = tuple(int(v) for v in rng.integers(225, 256, 3))
    kinds = rng.choice(len(SHAPES), 2, replace=False)
    colors = rng.choice(len(COLORS), 2, replace=False)
    if share == "color":
        colors[1] = colors[0]
    elif share == "shape":
        kinds[1] = kinds[0]
    vertical = rng.random() < 0.5
    image = Image.new("RGB", (SIZE, SIZE), background)
    masks, names = [], []
    for k in range(2):
        side = int(rng.integers(16, 27))
        lo, hi = (2, SIZE // 2 - side - 1) if k == 0 else (SIZE // 2 + 1, SIZE - side - 2)
        a, b = int(rng.integers(lo, hi + 1)), int(rng.integers(2, SIZE - side - 2))
        x, y = (b, a) if vertical else (a, b)
        box = (x, y, x + side, y + side)
        shape, color = SHAPES[kinds[k]], COLORS[colors[k]]
        _draw(ImageDraw.Draw(image), shape, box, RGB[color])
        mask = Image.new("L", (SIZE, SIZE), 0)
        _draw(ImageDraw.Draw(mask), shape, box, 255)
        masks.append(numpy.asarray(mask) > 0)
        names.append((color, shape))
    return numpy.asarray(image), numpy.stack(masks), names


def _questions(names, rng):
    """(question, answer, referent) for one scene: colour, shape and yes/no questions about each shape."""
    items = []
    for k, (color, shape) in enumerate(names):
        items.append((f"what color is the {shape}?", color, k))
        items.append((f"what shape is the {color} shape?", shape, k))
        items.append((f"is there a {color} {shape}?", "yes", k))
        other_color = names[1 - k][0]
        items.append((f"is there a {other_color} {shape}?", "no", k))  # the shape is there, in another colour
    absent = next(s for s in SHAPES if s not in (names[0][1], names[1][1]))
    color = names[int(rng.integers(2))][0]
    items.append((f"is there a {color} {absent}?", "no", -1))
    return items


@functools.lru_cache(maxsize=4)
def _generate(part, seed):
    rng = numpy.random.default_rng([seed, 0 if part == "train" else 1])
    images, masks, names, questions = [], [], [], []
    for image_id in range(IMAGES[part]):
        image, shape_masks, shape_names = _scene(rng)
        images.append(image)
        masks.append(shape_masks)
        names.append(shape_names)
        questions.extend((image_id, *q) for q in _questions(shape_names, rng))
    return numpy.stack(images), numpy.stack(masks), names, questions


def load_two_shape(split, seed=0):
    """``"train"``, ``"val"`` (image ids divisible by 10 of the generated training set) or ``"test"``."""
    if split not in SPLITS:
        raise DataError(f"unknown two-shape split {split!r}: use one of {', '.join(SPLITS)}")
    images, masks, names, questions = _generate("test" if split == "test" else "train", seed)
    keep = numpy.arange(len(images))
    if split != "test":
        keep = keep[(keep % VAL_EVERY == 0) == (split == "val")]
    row_of_id = {int(i): row for row, i in enumerate(keep)}
    chosen = [q for q in questions if q[0] in row_of_id]
    return TwoShapeVQA(
        split=split, images=images[keep], image_ids=keep.astype(numpy.int64),
        questions=[q[1] for q in chosen], answers=[q[2] for q in chosen],
        image_index=numpy.array([row_of_id[q[0]] for q in chosen], dtype=numpy.int64),
        answer_list=list(ANSWERS),
        answer_ids=numpy.array([ANSWERS.index(q[2]) for q in chosen], dtype=numpy.int64),
        shape_masks=masks[keep], shape_names=[names[i] for i in keep],
        referent=numpy.array([q[3] for q in chosen], dtype=numpy.int64))


def shared_pairs(count, seed=0):
    """``count`` scenes whose two shapes share a colour (even i) or a kind (odd i), each asked about both.

    Returns ``(images uint8 (N, 64, 64, 3), masks bool (N, 2, 64, 64), pairs)``, ``pairs[i]`` the questions
    "is there a {color} {shape}?" about shape 0 and about shape 1: one word apart, the word that tells the
    two shapes apart (the kind when they share a colour, the colour when they share a kind).
    """
    rng = numpy.random.default_rng([seed, 2])
    images, masks, pairs = [], [], []
    for i in range(count):
        image, shape_masks, names = _scene(rng, "color" if i % 2 == 0 else "shape")
        images.append(image)
        masks.append(shape_masks)
        pairs.append(tuple(f"is there a {color} {shape}?" for color, shape in names))
    return numpy.stack(images), numpy.stack(masks), pairs
