"""The shipped example: one easy-VQA test image and its question, wherever the package is installed."""
from pathlib import Path

EXAMPLE_IMAGE = Path(__file__).resolve().parent.parent / "assets" / "example.png"
EXAMPLE_QUESTION = EXAMPLE_IMAGE.with_suffix(".txt")  # the question, one line of UTF-8


def example_question():
    """The shipped example's question."""
    return EXAMPLE_QUESTION.read_text(encoding="utf-8").strip()
