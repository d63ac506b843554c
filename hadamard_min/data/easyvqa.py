"""The easy-VQA data set: 64×64 images of one coloured shape, with yes/no, colour and shape questions.

Splits: ``"test"`` is the official test set (1,000 images, 9,673 questions). The official training set
(4,000 images, 38,575 questions) is divided by image id: images with ``id % 10 == 0`` and all their
questions form ``"val"``, the rest ``"train"``, so no image is shared between the two.

Loading reads every PNG once (about 0.3 s for the 4,000 training images), so there is no cache.
"""
from dataclasses import dataclass

import numpy

from hadamard_min.data.images import load_image
from hadamard_min.data.text import tokenize

SPLITS = ("train", "val", "test")
VAL_EVERY = 10  # image ids divisible by this form the validation split
YES_NO = ("yes", "no")
COLORS = ("black", "blue", "brown", "gray", "green", "red", "teal", "yellow")
QUESTION_TYPES = ("yes/no", "color", "shape")


class DataError(ValueError):
    """The data set is missing or was asked for something it does not have."""


@dataclass
class EasyVQA:
    """One split, all in memory.

    ``images[image_index[i]]`` is the image of question ``i``; ``answer_list[answer_ids[i]] == answers[i]``.
    """

    split: str
    images: numpy.ndarray  # uint8 (N, 64, 64, 3)
    image_ids: numpy.ndarray  # int64 (N,), the easy-VQA id of each image row
    questions: list  # of str, length Q
    answers: list  # of str, length Q
    image_index: numpy.ndarray  # int64 (Q,), row in ``images``
    answer_list: list  # the 13 answers in easy-VQA's fixed order
    answer_ids: numpy.ndarray  # int64 (Q,), index into ``answer_list``

    def __len__(self):
        return len(self.questions)

    def question_types(self):
        """The type ("yes/no", "color", "shape") of every question, in order."""
        return [question_type(q, a) for q, a in zip(self.questions, self.answers)]


def _easy_vqa_module():
    try:
        import easy_vqa
    except ImportError:
        raise DataError("the easy-VQA data set is not installed: pip install 'hadamard-min[data]' "
                        "(or pip install easy-vqa)") from None
    return easy_vqa


def load_easy_vqa(split):
    """Load ``"train"``, ``"val"`` (10 % of the training images, by id) or ``"test"``."""
    if split not in SPLITS:
        raise DataError(f"unknown easy-VQA split {split!r}: use one of {', '.join(SPLITS)}")
    easy_vqa = _easy_vqa_module()
    if split == "test":
        questions, answers, question_image_ids = easy_vqa.get_test_questions()
        paths = easy_vqa.get_test_image_paths()
        keep = sorted(paths)
    else:
        questions, answers, question_image_ids = easy_vqa.get_train_questions()
        paths = easy_vqa.get_train_image_paths()
        in_val = split == "val"
        keep = sorted(i for i in paths if (i % VAL_EVERY == 0) == in_val)

    row_of_id = {image_id: row for row, image_id in enumerate(keep)}
    chosen = [k for k, image_id in enumerate(question_image_ids) if image_id in row_of_id]
    answer_list = list(easy_vqa.get_answers())
    answer_index = {answer: k for k, answer in enumerate(answer_list)}
    return EasyVQA(
        split=split,
        images=numpy.stack([load_image(paths[image_id]) for image_id in keep]),
        image_ids=numpy.asarray(keep, dtype=numpy.int64),
        questions=[questions[k] for k in chosen],
        answers=[answers[k] for k in chosen],
        image_index=numpy.asarray([row_of_id[question_image_ids[k]] for k in chosen], dtype=numpy.int64),
        answer_list=answer_list,
        answer_ids=numpy.asarray([answer_index[answers[k]] for k in chosen], dtype=numpy.int64),
    )


def question_type(question, answer=None):
    """``"yes/no"``, ``"color"`` or ``"shape"``.

    With an answer the type follows it (yes/no answer → "yes/no", a colour name → "color", else
    "shape"). Without one (a new question) it follows easy-VQA's question patterns: "what color …" →
    "color", any other "what …" → "shape", everything else → "yes/no".
    """
    if answer is not None:
        if answer in YES_NO:
            return "yes/no"
        return "color" if answer in COLORS else "shape"
    tokens = tokenize(question)
    if tokens[0] != "what":
        return "yes/no"
    return "color" if "color" in tokens else "shape"


def background_color(image):
    """The most common colour among the border pixels of a uint8 (H, W, 3) image (the scene's background)."""
    border = numpy.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    colors, counts = numpy.unique(border, axis=0, return_counts=True)
    return colors[numpy.argmax(counts)]


def background_mask(image):
    """Object mask bool (H, W): pixels that differ from the background colour, dilated by one pixel.

    The dilation (3×3, ``mask'[y, x] = max over |dy|, |dx| ≤ 1 of mask[y+dy, x+dx]``) covers the
    anti-aliased outline.
    """
    differs = numpy.any(image != background_color(image), axis=-1)
    padded = numpy.pad(differs, 1)
    height, width = differs.shape
    dilated = numpy.zeros_like(differs)
    for dy in range(3):
        for dx in range(3):
            dilated |= padded[dy:dy + height, dx:dx + width]
    return dilated


def iterate_batches(n, batch_size, rng=None, drop_last=False):
    """Yield int64 index arrays covering ``range(n)`` in batches of ``batch_size``.

    With a ``numpy.random.Generator`` the order is a fresh permutation (deterministic for a seeded
    generator); without one it is ``0, 1, …, n − 1``. ``drop_last`` skips a final short batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    order = numpy.arange(n, dtype=numpy.int64) if rng is None else rng.permutation(n).astype(numpy.int64)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]
