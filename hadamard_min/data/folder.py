"""Your own questions about your own images, from a folder (``hadamard-evaluate --data DIR``).

    DIR/
      questions.jsonl       one JSON object per line:
                              {"image": "kitchen.jpg", "question": "what is on the table?", "answer": "cup"}
                            "answer" is optional (without answers, accuracy is not measured)
      kitchen.jpg, …        the images, any format Pillow reads; paths relative to DIR
      masks/kitchen.png     optional: the object each question about that image is about, one mask per
                            image, named as the image with the extension .png, the image's size, non-black
                            pixels = object

The metrics that need the object (pointing game, mass in mask) run on the images that have a mask and
are skipped, with a note in the report, when none has one. Deletion paints pixels with the most common
colour of the image's border, as for the built-in data. Every line is checked when the folder is read:
a bad line stops the evaluation with its line number, so that the numbers are about the whole file.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy

from hadamard_min.data.easyvqa import DataError
from hadamard_min.data.images import fit, load_image
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import byte_lines, parse_json

QUESTIONS = "questions.jsonl"
MASKS = "masks"


@dataclass
class FolderData:
    """The folder in memory; ``images[image_index[i]]`` is the image of question ``i``."""
    name: str
    images: list           # uint8 (H, W, 3) per image, sizes may differ
    image_paths: list      # relative to the folder
    masks: list            # bool (H, W) per image, or None where the image has no mask
    questions: list
    answers: list          # str, or None where the line gives no answer
    image_index: numpy.ndarray
    split: str = ""
    files: tuple = ()      # every file read: the listing, the images, the masks (outputs must not be any)

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
    if not listing.is_file():
        raise DataError(f"{folder} has no {QUESTIONS}: give a folder with images and a {QUESTIONS} "
                        f'of {{"image": …, "question": …, "answer": …}} lines')
    rows = {}
    questions, answers, image_index = [], [], []
    for number, line in byte_lines(listing):
        image, question, answer = _parse(line, f"{listing} line {number}")
        if image not in rows:
            rows[image] = len(rows)
        questions.append(question)
        answers.append(answer)
        image_index.append(rows[image])
    if not questions:
        raise DataError(f"{listing} holds no questions")
    paths = list(rows)
    images = [load_image(folder / path) for path in paths]
    masks = [_mask(folder, path, image) for path, image in zip(paths, images)]
    mask_files = [_mask_path(folder, path) for path, mask in zip(paths, masks) if mask is not None]
    return FolderData(name=folder.resolve().name, images=images, image_paths=paths, masks=masks,
                      questions=questions, answers=answers, image_index=numpy.asarray(image_index, dtype=numpy.int64),
                      files=(listing, *(folder / path for path in paths), *mask_files))


def _parse(data, where):
    try:
        line = parse_json(data, where, "line")  # UTF-8, and bounded: depth, size, huge integers
    except WeightsError as error:
        raise DataError(str(error)) from None
    if not isinstance(line, dict):
        raise DataError(f'{where}: expected an object {{"image": …, "question": …}}')
    for key in ("image", "question"):
        if not isinstance(line.get(key), str) or not line[key].strip():
            raise DataError(f'{where}: "{key}" is missing or not a non-empty string')
    answer = line.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise DataError(f'{where}: "answer" must be a string')
    return line["image"], line["question"], answer


def _mask_path(folder, path):
    return folder / MASKS / Path(path).with_suffix(".png")


def _mask(folder, path, image):
    """The image's mask as bool (H, W), or None when ``masks/`` has none for it."""
    mask_path = _mask_path(folder, path)
    if not mask_path.is_file():
        return None
    mask = load_image(mask_path).max(axis=2) > 0
    if mask.shape != image.shape[:2]:
        raise DataError(f"{mask_path} is {mask.shape[0]}×{mask.shape[1]} but its image {path} is "
                        f"{image.shape[0]}×{image.shape[1]}: a mask must have its image's size")
    return mask
