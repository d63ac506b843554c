"""A saved explanation whose fields contradict one another (edited from a real one) is refused by name on
load: it would draw a figure that says what the model never said."""
import numpy
import pytest
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.explain.saved import ExplanationFileError
from hadamard_min.io.npz import load_npz_metadata, save_weights
from hadamard_min.io.weights import load_weights

IMAGE = numpy.random.default_rng(7).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "e.npz"
    hm.explain(tiny_float64_model(), IMAGE, "what color is the shape?", top_k=3).save(path)
    return path


def edited(saved, folder, text=None, **arrays):
    """A copy of ``saved`` with its JSON fields updated by ``text(fields)`` and ``arrays`` replaced."""
    fields = load_npz_metadata(saved)["explanation"]
    if text:
        text(fields)
    path = folder / "edited.npz"
    save_weights(path, {**load_weights(saved), **arrays}, metadata={"explanation": fields})
    return path


def _first_answer(fields):
    fields["answer"] = fields["top_k"][1][0]


def _probability(fields):
    fields["probability"] = fields["top_k"][0][1] / 2


def _duplicate(fields):
    fields["top_k"][1][0] = fields["top_k"][0][0]


def _ascending(fields):
    fields["top_k"] = fields["top_k"][::-1]
    fields["answer"], fields["probability"] = fields["top_k"][0]


def _more_than_one(fields):
    fields["top_k"] = [[answer, 0.9] for answer, _ in fields["top_k"]]
    fields["probability"] = 0.9


@pytest.mark.parametrize("text, words", [
    (_first_answer, r"top_k\[0\] is .* but the answer is"), (_probability, r"top_k\[0\] is .* but the answer is"),
    (_duplicate, "lists the answer .* twice"), (_ascending, "not sorted most probable first"),
    (_more_than_one, "add up to 2.7, more than 1"),
], ids=["answer", "probability", "duplicate", "ascending", "sum"])
def test_a_top_k_that_contradicts_the_answer_is_refused(saved, tmp_path, text, words):
    with pytest.raises(ExplanationFileError, match=words):
        hm.Explanation.load(edited(saved, tmp_path, text))


@pytest.mark.parametrize("name, scale, words", [
    ("heatmap", 3.0, "heatmap holds values from .* to .*, but it is a magnitude scaled to"),
    ("alpha", -1.0, "alpha holds values from -.*, but it is attention weights"),
])
def test_maps_outside_their_range_are_refused(saved, tmp_path, name, scale, words):
    array = load_weights(saved)[name]
    with pytest.raises(ExplanationFileError, match=words):
        hm.Explanation.load(edited(saved, tmp_path, **{name: array * scale}))


def test_a_map_of_another_shape_than_the_image_is_refused(saved, tmp_path):
    heatmap = load_weights(saved)["heatmap"][:-1]
    with pytest.raises(ExplanationFileError, match="heatmap has shape"):
        hm.Explanation.load(edited(saved, tmp_path, heatmap=heatmap))


def test_the_unedited_file_loads(saved, tmp_path):
    e = hm.Explanation.load(edited(saved, tmp_path))
    assert (e.answer, e.probability) == e.top_k[0] and len(e.top_k) == 3
