"""An Explanation whose fields a notebook user changed by hand: its repr still shows, a notebook shows that line
and why it cannot draw it (once), and what draws, saves, stacks or writes it as JSON refuses it with
ExplainArgumentError naming the field, not an AttributeError or a format error from deep inside the figure, html
or json."""
import copy
import re

import numpy
import pytest
from matplotlib.figure import Figure
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.maps import FigureInputError

IMAGE = numpy.random.default_rng(5).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)
QUESTION = "what color is the shape?"


@pytest.fixture(scope="module")
def explanation():
    return hm.explain(tiny_float64_model(), IMAGE, QUESTION)


def changed(explanation, **fields):
    e = copy.copy(explanation)
    for name, value in fields.items():
        setattr(e, name, value)
    return e


@pytest.mark.parametrize("fields, shown", [
    ({"probability": "x"}, "p = str 'x'"), ({"probability": None}, "p = NoneType None"),
    ({"probability": numpy.array([0.5, 0.2])}, "p = ndarray"), ({"image": None}, "image ?"),
    ({"framing": None}, "the model saw ?×?"), ({"framing": "stretch"}, "the model saw ?×?"),
])
def test_the_repr_of_a_changed_explanation_never_fails(explanation, fields, shown):
    """It raised ValueError ('Unknown format code f') or AttributeError: the notebook showed nothing."""
    assert shown in repr(changed(explanation, **fields)) and str(changed(explanation, **fields))


CHANGES = [
    ({"answer": None}, "answer must be a string"),
    ({"probability": "x"}, r"probability must be a number in \[0, 1\], not 'x'"),
    ({"probability": float("nan")}, r"probability must be a number in \[0, 1\], not nan"),
    ({"tokens": []}, "tokens must be a list of at least one token"),
    ({"tokens": None}, "tokens must be a list of strings"),
    ({"top_k": [("yes",)]}, "top_k must be a non-empty list of"),
    ({"top_k": None}, "top_k must be a non-empty list of"),
    ({"heatmap": None}, "the explanation lacks heatmap"),
    ({"image": None}, "the explanation lacks image"),
    ({"image": IMAGE.astype(float)}, r"image must be uint8 \(H, W, 3\)"),
    ({"image": IMAGE[..., 0]}, r"image must be uint8 \(H, W, 3\)"),
    ({"image": IMAGE[:10]}, "framing .* does not fit the image"),
    ({"token_z": None}, "the explanation lacks token_z"),
    ({"framing": None}, "framing must be an explanation's Framing"),
    ({"framing": "stretch"}, "framing must be an explanation's Framing"),
    ({"options": {"x": object()}}, "options must be an object of finite numbers, text, true/false or null"),
    ({"options": {"top_k": float("inf")}}, "options must be an object of finite numbers"),  # no JSON number
    ({"method": "bogus"}, "method must be one of hadamard, guided"),  # drawn under a label of no method
]


DRAWN = {"the explanation lacks image": r"image must be uint8 \(H, W, 3\), got object",  # the figure's words
         r"image must be uint8 \(H, W, 3\)": r"image must be uint8 \(H, W, 3\), got (float64|uint8 \(16, 16\))"}


@pytest.mark.parametrize("fields, words", CHANGES)
def test_a_changed_explanation_is_refused_naming_the_field(explanation, fields, words, tmp_path):
    e = changed(explanation, **fields)
    ax = Figure().add_subplot()
    for call in (lambda: hm.plot_explanation(e), lambda: hm.plot_explanation(e, ax=ax)):
        with pytest.raises((ExplainArgumentError, FigureInputError), match=DRAWN.get(words, words)):
            call()  # a map the figure cannot draw is said in the figure's words (FigureInputError)
    bundle = e._repr_mimebundle_()  # a notebook shows the line and why once, not an error for each view
    assert list(bundle) == ["text/plain"] and bundle["text/plain"].startswith(repr(e) + "\nnot drawn: ")
    assert re.search(DRAWN.get(words, words), bundle["text/plain"])
    assert e._repr_png_() is None and e._repr_html_() is None
    for use, call in (("stacked", lambda: hm.stack([e])), ("written as JSON", e.to_json)):
        with pytest.raises(ExplainArgumentError, match=f"fit together \\({words}.*cannot be {use}"):
            call()
    with pytest.raises(ExplainArgumentError, match=f"would not load back \\({words}"):
        e.save(tmp_path / "e.npz")
    assert list(tmp_path.iterdir()) == []


def test_at_image_needs_the_framing(explanation):
    with pytest.raises(ExplainArgumentError, match="framing must be a Framing, not NoneType"):
        changed(explanation, framing=None).at_image(explanation.heatmap)


def test_stack_names_maps_of_two_shapes_and_takes_the_image_where_input_image_is_none(explanation):
    with pytest.raises(ExplainArgumentError, match=r"maps have one shape, not \[\(1, 16, 16\), \(3, 16, 16\)\]"):
        hm.stack([explanation, changed(explanation, grad_v=None)])
    s = hm.stack([changed(explanation, input_image=None)])
    numpy.testing.assert_array_equal(s.inputs[0], explanation.image)


def test_an_unchanged_explanation_still_draws_saves_and_stacks(explanation, tmp_path):
    e = changed(explanation, top_k=[tuple(pair) for pair in explanation.top_k],
                probability=numpy.float32(explanation.probability))  # tuples and NumPy floats are fine
    assert isinstance(hm.plot_explanation(e), Figure) and e.to_json()["probability"] == pytest.approx(e.probability)
    assert hm.Explanation.load(e.save(tmp_path / "e.npz")).answer == e.answer


def test_a_file_s_bounds_do_not_refuse_what_a_model_gives(tmp_path):
    """The bounds on a saved file's counts (10,000 answers listed) are not a hand change: a model of 10,001
    answers explained with top_k beyond them still stacks and writes as JSON (only save refuses it, saying so)."""
    model = tiny_float64_model(answers=[f"a{i}" for i in range(10_001)])
    e = hm.explain(model, IMAGE, QUESTION, top_k=10 ** 9)
    assert len(e.to_json()["top_k"]) == 10_001 and hm.stack([e]).answers == [e.answer]
    with pytest.raises(ExplainArgumentError, match=r"10,001 answers in top_k, more than .* it cannot be saved"):
        e.save(tmp_path / "e.npz")
    assert list(tmp_path.iterdir()) == []
