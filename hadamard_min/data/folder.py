"""Your own questions about your own images, from a folder (``hadamard-evaluate --data DIR``).

    DIR/
      questions.jsonl       one JSON object per line:
                              {"image": "kitchen.jpg", "question": "what is on the table?", "answer": "cup"}
                            "answer" is optional (without answers, accuracy is not measured)
      kitchen.jpg, …        the images: PNG, JPEG, GIF, BMP, TIFF, WebP or PPM; paths relative to DIR,
                            inside it (no leading / nor a ../ above DIR)
      masks/kitchen.png     optional: the object each question about that image is about, one mask per
                            image, named as the image with the extension .png, the image's size, pixels
                            neither black nor transparent = object (a 16-bit mask's by its values, not
                            rounded to 8 bits; a mask with no object pixel is refused)

The metrics that need the object (pointing game, mass in mask) run on the images that have a mask and
are skipped, with a note in the report, when none has one. Deletion paints pixels with the most common
colour of the image's border, as for the built-in data. Every line is checked when the folder is read:
a bad line stops the evaluation with its line number, so that the numbers are about the whole file (a
question longer than the model reads is found once the model is known, ``check_question_lengths``).
Every image and mask is decoded then, one at a time, and not kept: ``images[k]`` and ``masks[k]`` read
their file again when asked for, so a listing of many large images holds one at a time; with over ``CHECK_STEP``
images, the check shows its progress on stderr (about 20 lines). Spellings of one
file (``a.png``, ``./a.png``, ``sub/../a.png``) are one image. Of an image or mask of several frames (an animated
GIF, a multi-page TIFF) the first is read, and one :class:`frames.FramesWarning` after the check names how many
such files there are and the first few: a note per file would flood the report's stderr, once per read.
"""
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy

from hadamard_min.data import frames
from hadamard_min.data.easyvqa import DataError
from hadamard_min.data.images import fit, read_noted
from hadamard_min.data.text import QuestionError, tokenize
from hadamard_min.escapes import file_name
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import byte_lines, parse_json
from hadamard_min.progress import in_chunks

QUESTIONS = "questions.jsonl"
KEYS = ("image", "question", "answer")  # a line's keys, spelled so
MASKS = "masks"
CHECK_STEP = 64  # images: a listing of more shows how far the check of its images has got
NAMED = 3  # files of several frames named in the note (then "…")


@dataclass
class FolderData:
    """The folder in memory; ``images[image_index[i]]`` is the image of question ``i``."""
    name: str
    images: Sequence       # uint8 (H, W, 3) per image, sizes may differ (read when asked for)
    image_paths: list      # relative to the folder
    masks: Sequence        # bool (H, W) per image, or None where the image has no mask (read when asked for)
    questions: list
    answers: list          # str, or None where the line gives no answer
    image_index: numpy.ndarray
    split: str = ""
    files: tuple = ()      # every file read: the listing, the images, the masks (outputs must not be any)
    lines: tuple = ()      # the listing's line number of each question

    def __len__(self):
        return len(self.questions)

    def object_mask(self, question, size, crop):
        """The mask of question ``question``'s image as the network sees it (:func:`images.fit`), or None."""
        mask = self.masks[self.image_index[question]]
        if mask is None:
            return None
        return fit(numpy.repeat(mask[..., None].astype(numpy.uint8) * 255, 3, axis=2), size, crop)[..., 0] > 127


def load_folder(folder):
    """Read and check ``folder`` (see the module's description); a :class:`FolderData`."""
    folder = Path(folder)
    listing = folder / QUESTIONS
    if not os.path.lexists(listing):  # a folder, a pipe or a device under its name is refused when read
        raise DataError(f"{folder} has no {QUESTIONS}: give a folder with images and a {QUESTIONS} "
                        f'of {{"image": …, "question": …, "answer": …}} lines')
    rows, paths = {}, []
    questions, answers, image_index, lines = [], [], [], []
    for number, line in byte_lines(listing):
        image, question, answer = _parse(line, f"{listing} line {number}")
        lines.append(number)
        key = _same_file(folder / image)
        if key not in rows:
            rows[key] = len(paths)
            paths.append(image)
        questions.append(question)
        answers.append(answer)
        image_index.append(rows[key])
    if not questions:
        raise DataError(f"{listing} holds no questions")
    mask_files = [_mask_path(folder, path) for path in paths]
    _check_one_image_per_mask(paths, mask_files)
    animated = []  # the files of several frames
    for part in in_chunks(len(paths), max(CHECK_STEP, len(paths) // 20), "checking images"):  # a line a step
        for path, mask_file in zip(paths[part], mask_files[part]):  # each decoded once, now, and let go
            image, note = read_noted(folder / path)
            animated += [path] if note else []
            if _has_mask(mask_file):
                mask, note = read_noted(mask_file, mask=True)
                animated += [mask_file.relative_to(folder)] if note else []
                _check_mask(mask, image.shape[:2], mask_file, path)
    masked = [mask_file for mask_file in mask_files if _has_mask(mask_file)]
    _note_frames(folder, animated, len(paths) + len(masked))
    return FolderData(name=folder.resolve().name, image_paths=paths,
                      images=OnDemand(lambda k: read_noted(folder / paths[k])[0], len(paths)),
                      masks=OnDemand(lambda k: _read_mask(mask_files[k]) if _has_mask(mask_files[k]) else None,
                                     len(paths)),
                      questions=questions, answers=answers, image_index=numpy.asarray(image_index, dtype=numpy.int64),
                      files=(listing, *(folder / path for path in paths), *masked), lines=tuple(lines))


def _note_frames(folder, animated, total):
    """One note for the folder's files of several frames: how many, the first ``NAMED``, and which frame is read."""
    if animated:
        names = ", ".join(str(path) for path in animated[:NAMED]) + (", …" if len(animated) > NAMED else "")
        frames.warn(f"{len(animated)} of the {total} images and masks in {folder} have several frames (an animation "
                    f"or a multi-page file): the first frame of each is read ({names})")


class OnDemand(Sequence):
    """``items[k] = read(k)``, read each time it is asked for (an int, or a slice: a list)."""

    def __init__(self, read, count):
        self.read, self.count = read, count

    def __len__(self):
        return self.count

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self.read(i) for i in range(*k.indices(self.count))]
        if not -self.count <= k < self.count:
            raise IndexError(f"index {k} out of range for {self.count} items")
        return self.read(k % self.count)


def _parse(data, where):
    try:
        line = parse_json(data, where, "line")  # UTF-8, and bounded: depth, size, huge integers
    except WeightsError as error:
        raise DataError(str(error)) from None
    if not isinstance(line, dict):
        raise DataError(f'{where}: expected an object {{"image": …, "question": …}}')
    for key in line:  # "Answer" would be read as no answer at all, without a word
        if key not in KEYS and key.strip().lower() in KEYS:
            raise DataError(f'{where}: the key {key!r:.80} is not read: the keys are "image", "question" and "answer", '
                            f'in lower case')
    for key in ("image", "question"):
        if not isinstance(line.get(key), str) or not line[key].strip():
            raise DataError(f'{where}: "{key}" is missing or not a non-empty string')
    if _outside(line["image"]):  # its mask's name, masks/ + the path, would leave masks/ (an absolute one: the image)
        raise DataError(f'{where}: "image" is {line["image"]!r:.80}, outside the folder: give its path from the '
                        f'folder (no leading / nor a ../ above it)')
    if Path(line["image"]).name in ("", ".", ".."):  # "/", ".", "a/..": no file name, so no mask name either
        raise DataError(f'{where}: "image" is {line["image"]!r:.80}, a folder, not an image file')
    try:
        tokenize(line["question"])   # words: a question of punctuation alone is refused here, with its line
    except QuestionError as error:
        raise DataError(f"{where}: {error}") from None
    answer = line.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise DataError(f'{where}: "answer" must be a string')
    return file_name(line["image"]), line["question"], answer


def _outside(path):
    """Whether the listing's ``path`` is anchored (absolute; on Windows also ``\\a.png`` or ``C:a.png``, which
    ``is_absolute`` calls relative) or climbs above the folder with ``..`` (read as written)."""
    depth = 0
    for part in PurePath(path).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return bool(PurePath(path).anchor)


def _same_file(path):
    """The same key for every spelling of one file (links followed), the path itself if it cannot be resolved."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):  # a NUL in the name: refused when the image is read
        return str(path)


def _mask_path(folder, path):
    return folder / MASKS / Path(path).with_suffix(".png")


def _check_one_image_per_mask(paths, mask_files):
    """Refuse a mask that two images would share (``a.png`` and ``a.jpg`` both read ``masks/a.png``)."""
    owner = {}
    for path, mask_file in zip(paths, mask_files):
        if mask_file in owner and _has_mask(mask_file):
            raise DataError(f"{mask_file} would be the mask of two images, {owner[mask_file]} and {path} (a mask is "
                            f"named as its image, with .png): rename one of them")
        owner.setdefault(mask_file, path)


def _has_mask(mask_path):
    """Whether anything is under the mask's name: a pipe, a device, a folder or a link to nothing there is then
    refused when read, in one line, not taken for no mask (which skips the metrics that need the object)."""
    return os.path.lexists(mask_path)


def _read_mask(mask_path):
    """A mask file as bool (H, W): its pixels neither black nor transparent (a 16-bit one's by their values); a first
    frame's, said once by :func:`load_folder`."""
    return read_noted(mask_path, mask=True)[0]


def _check_mask(mask, shape, mask_path, path):
    if mask.shape != shape:
        raise DataError(f"{mask_path} is {mask.shape[0]}×{mask.shape[1]} but its image {path} is "
                        f"{shape[0]}×{shape[1]}: a mask must have its image's size")
    if not mask.any():  # every method would score 0, the mask's share too: a mask saved wrong, not a finding
        raise DataError(f"{mask_path} marks no object: every pixel is black or transparent (a mask's object is "
                        f"its other pixels); leave the mask out where its image has no object")


def check_question_lengths(data, max_length):
    """Stop, naming the listing's line, at a question of more words than the model reads (``max_length``)."""
    for k, question in enumerate(data.questions):
        words = len(tokenize(question))
        if words > max_length:
            raise DataError(f"{data.files[0]} line {data.lines[k]}: the question has {words} words but the model "
                            f"reads at most {max_length}")
