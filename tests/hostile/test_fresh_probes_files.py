"""A fresh pass of hostile inputs, files: a saved explanation whose counts no model gives (its figure costs a
few milliseconds per token and per listed answer, tens per α map, a gigabyte for 2048² maps: a 32 MiB JSON
of a million tokens kept ``plot_explanation`` busy for an hour) is refused when loaded, and such an explanation
is not saved either."""
import dataclasses
import time

import numpy
import pytest
from hostile_helpers import write_photo

import hadamard_min as hm
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.result import Explanation
from hadamard_min.explain.saved import ExplanationFileError
from hadamard_min.io.model_files import load_model
from hadamard_min.io.npz import save_weights
from hadamard_min.io.weights import load_npz_metadata, load_weights


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An explanation of the shipped model, saved: its path."""
    folder = tmp_path_factory.mktemp("saved")
    path = folder / "e.npz"
    hm.explain(load_model(), write_photo(folder / "p.png"), "what shape is it?").save(path)
    return path


def _crafted(saved, path, arrays=None, text=None):
    """``saved`` rewritten with some of its arrays and JSON fields replaced, as a crafted file would be (a new
    image: as the network saw it, without a separate input image and its framing)."""
    fields, stored = load_npz_metadata(saved)["explanation"], load_weights(saved)
    if arrays and "image" in arrays:
        stored.pop("input_image", None)
        fields = {name: value for name, value in fields.items() if name != "framing"}
    save_weights(path, {**stored, **(arrays or {})}, metadata={"explanation": {**fields, **(text or {})}})
    return path


def _image(height, width):
    return {"image": numpy.zeros((height, width, 3), numpy.uint8), "heatmap": numpy.zeros((height, width)),
            "pixel_map": numpy.zeros((3, height, width)), "grad_v": numpy.zeros((3, height, width))}


def _tokens(count, width):
    return ({"token_scores": numpy.zeros(count, numpy.float32), "token_z": numpy.zeros(count, numpy.float32),
             "grad_q": numpy.zeros((count, width), numpy.float32)}, {"tokens": ["a"] * count})


@pytest.mark.parametrize("crafted, words", [
    (lambda width: ({"alpha": numpy.zeros((65, 2, 2), numpy.float32)}, None), "65 α maps"),
    (lambda width: _tokens(1025, width), "1,025 tokens"),
    (lambda width: (None, {"top_k": [["circle", 0.1]] * 10_001}), "10,001 answers"),
    (lambda width: (_image(1, 1025), None), "1,025 pixels on a side of its maps"),
    (lambda width: ({"alpha": numpy.zeros((2, 1025, 1025), numpy.float32)}, None), "1,025 cells on a side"),
], ids=["glimpses", "tokens", "top_k", "maps", "alpha grid"])
def test_a_saved_explanation_with_more_than_any_model_gives_is_refused_at_once(saved, tmp_path, crafted, words):
    arrays, text = crafted(load_weights(saved)["grad_q"].shape[1])
    path = _crafted(saved, tmp_path / "crafted.npz", arrays, text)
    started = time.perf_counter()
    with pytest.raises(ExplanationFileError, match=words):
        Explanation.load(path)
    assert time.perf_counter() - started < 2.0


def test_the_largest_counts_a_model_gives_still_load(saved, tmp_path):
    """Pinned: 64 glimpses, 1024 tokens, 10,000 answers and a 1024-pixel side are within the bounds."""
    arrays, text = _tokens(1024, load_weights(saved)["grad_q"].shape[1])
    arrays |= {**_image(1024, 3), "alpha": numpy.zeros((64, 2, 2), numpy.float32)}
    top_k = [list(Explanation.load(saved).top_k[0])] + [[f"a{i}", 0.0] for i in range(9_999)]  # one ranking
    loaded = Explanation.load(_crafted(saved, tmp_path / "largest.npz", arrays, {**text, "top_k": top_k}))
    assert (len(loaded.tokens), len(loaded.alpha), len(loaded.top_k)) == (1024, 64, 10_000)


def test_an_explanation_beyond_the_bounds_is_not_saved(saved, tmp_path):
    explanation = Explanation.load(saved)
    crowded = dataclasses.replace(explanation, top_k=[("circle", 0.1)] * 10_001)
    with pytest.raises(ExplainArgumentError, match="10,001 answers"):
        crowded.save(tmp_path / "crowded.npz")
    assert not (tmp_path / "crowded.npz").exists()
