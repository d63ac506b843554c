"""ImageNet's 1,000 class names and the photographs shipped with the package (see ``assets/*SOURCE*.md``).

``class_names()[k]`` is the name of class k, the k-th output of an ImageNet classifier; the names come
from torchvision's metadata (``assets/imagenet_classes_SOURCE.md``). ``PHOTOS`` maps a short name to a
photograph copied from scikit-image's sample data, each CC0 or public domain (``assets/photos/SOURCES.md``).
"""
from functools import cache
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CLASS_NAMES_FILE = ASSETS / "imagenet_classes.txt"
PHOTOS = {path.stem: path for path in sorted((ASSETS / "photos").glob("*.*")) if path.suffix in (".png", ".jpg")}


@cache
def class_names():
    """The 1,000 class names, in the order of the classifier's outputs."""
    names = CLASS_NAMES_FILE.read_text(encoding="utf-8").splitlines()
    if len(names) != 1000:
        raise ValueError(f"{CLASS_NAMES_FILE} holds {len(names)} names, not 1000; reinstall the package")
    return tuple(names)
