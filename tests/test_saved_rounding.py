"""Every explanation the package itself writes passes its own consistency check (``explain/consistency.py``)
where rounding is at its worst: all of 10,000 answers listed (tiny probabilities whose sum is rounded), equal
logits (ties, kept in the answers' order), one answer at p = 1 with the others exactly 0, and a float16 or
float32 model (α a softmax in that dtype). Each is saved, loaded back equal and passes what a figure checks.
A guard: the probabilities are a float64 softmax and every map a quotient x / max, so none of these is
refused today; a producer that computed them otherwise would be."""
import time

import numpy
import pytest
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.explain.saved import MAX_TOP_K, check_fields

IMAGE = numpy.random.default_rng(5).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)
ANSWERS = [f"a{k}" for k in range(MAX_TOP_K)]


def _logits(model, case):
    """Set the classifier so that the logits are random, all equal, or one answer far above the rest."""
    layer = model.mlb.linear_classif
    if case == "random":
        return
    layer.weight.data[...] = 0
    layer.bias.data[...] = 0
    if case == "one certain":
        layer.bias.data[...] = -1e4
        layer.bias.data[MAX_TOP_K // 2] = 1e4


@pytest.mark.parametrize("dtype, case", [(numpy.float32, "random"), (numpy.float16, "ties"),
                                         (numpy.float16, "one certain")])
def test_every_answer_listed_round_trips(tmp_path, dtype, case):
    model = tiny_float64_model(answers=ANSWERS)
    _logits(model, case)
    model.astype(dtype)
    for method in ("hadamard", "attention"):
        e = hm.explain(model, IMAGE, "what color is the shape?", method=method, top_k=MAX_TOP_K)
        assert len(e.top_k) == MAX_TOP_K and e.alpha.max() <= 1 and e.heatmap.max() <= 1
        if case == "ties":  # stable: equal probabilities in the answers' order, the first of them the answer
            assert [a for a, _ in e.top_k[:3]] == ANSWERS[:3] and e.answer == ANSWERS[0]
        if case == "one certain":
            assert e.probability == 1.0 and e.top_k[1][1] == 0.0
        path = tmp_path / f"{method}.npz"
        e.save(path)
        loaded = hm.Explanation.load(path)
        assert loaded == e
        check_fields(loaded, "drawn")


def test_a_float16_model_draws_after_a_round_trip(tmp_path):
    model = tiny_float64_model().astype(numpy.float16)
    e = hm.explain(model, IMAGE, "what color is the shape?", top_k=6)
    assert e.alpha.dtype == numpy.float16
    e.save(tmp_path / "e.npz")
    hm.plot_explanation(hm.Explanation.load(tmp_path / "e.npz"))


def test_checking_many_listed_answers_takes_time_in_proportion():
    """The check for an answer listed twice looked through every answer before each (K²/2 comparisons): 1 s
    per save, load or figure at 10,000 answers, minutes for a model of 100,000 explained with all listed
    (a figure's check is not bounded by MAX_TOP_K). With a set it is milliseconds."""
    from hadamard_min.explain.consistency import check_consistency

    top_k = [(f"answer {k}", 1 / 40_000) for k in range(40_000)]
    fields = {"top_k": top_k, "answer": top_k[0][0], "probability": top_k[0][1],
              "heatmap": numpy.zeros((2, 2)), "alpha": numpy.zeros((1, 2, 2))}
    start = time.perf_counter()
    check_consistency("x.npz", fields, ValueError)
    assert time.perf_counter() - start < 2.0  # K²/2 = 8·10⁸ comparisons took about 18 s
