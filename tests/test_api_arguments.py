"""The Python API refuses arguments it cannot use at its entry, with one error class naming the argument;
Explanation.load refuses a file whose fields do not fit; Explanation.save never replaces another file; at its
edges (NumPy scalars, maps and sizes, paths that name no file) it answers rightly or with the package's error."""
import copy
import os
import shutil

import numpy
import pytest
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.data.images import ImageError
from hadamard_min.data.text import QuestionError
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.methods import MethodError
from hadamard_min.explain.saved import ExplanationFileError
from hadamard_min.io.model_files import ModelFileError
from hadamard_min.io.weights import load_npz_metadata, load_weights, save_weights

IMAGE = numpy.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)
QUESTION = "what color is the shape?"


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "e.npz"
    hm.explain(model, IMAGE, QUESTION).save(path)
    return path


@pytest.mark.parametrize("call, words", [
    (lambda m: hm.explain(None, IMAGE, QUESTION), r"model must be a VQA model .* NoneType"),
    (lambda m: hm.explain("weights/x.npz", IMAGE, QUESTION), r"model must be .* str 'weights/x.npz'.*load_model"),
    (lambda m: hm.explain(m, None, QUESTION), r"image must be a file path.* NoneType"),
    (lambda m: hm.explain(m, IMAGE, None), r"question must be a string, not NoneType"),
    (lambda m: hm.explain(m, IMAGE, [QUESTION]), r"question must be a string, not list"),
    (lambda m: hm.explain_batch(None, [IMAGE], [QUESTION]), r"model must be a VQA model"),
])
def test_wrong_model_image_or_question_is_named(model, call, words):
    with pytest.raises(ExplainArgumentError, match=words):
        call(model)


@pytest.mark.parametrize("call, words", [
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], batch_size=1.5), r"batch_size .* float 1.5"),
    (lambda m: hm.explain_batch(m, (i for i in [IMAGE]), (q for q in [QUESTION])), r"questions must be a list"),
    (lambda m: hm.explain_batch(m, (i for i in [IMAGE]), [QUESTION]), r"images must be a list .* generator"),
    (lambda m: hm.explain_batch(m, [IMAGE], QUESTION), r"questions must be a list of strings, not str .*hm.explain"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION, 5]), r"questions\[1\] must be a string, not int 5"),
    (lambda m: hm.explain_batch(m, [IMAGE, 7], [QUESTION] * 2), r"images\[1\] must be a file path"),
    (lambda m: hm.explain_batch(m, IMAGE, QUESTION, method="saliency"), r"questions must be a list of strings"),
    (lambda m: hm.explain_batch(m, "x.png", [QUESTION], method="saliency"), r"images must be a list .* str"),
])
def test_a_string_or_generator_is_not_read_as_a_list(model, call, words):
    with pytest.raises(ExplainArgumentError, match=words):
        call(model)


@pytest.mark.parametrize("call, words", [
    (lambda m: hm.explain(m, IMAGE, QUESTION, top_k=0), r"top_k must be a whole number at least 1, not int 0"),
    (lambda m: hm.explain(m, IMAGE, QUESTION, top_k=True), r"top_k .* bool True"),
    (lambda m: hm.explain(m, IMAGE, QUESTION, sign="x"), r"sign must be one of paper, code, not str 'x'"),
    (lambda m: hm.explain(m, IMAGE, QUESTION, fix_f="no"), r"fix_f must be True or False"),
    (lambda m: hm.explain_batch(m, [], []), r"0 images and 0 questions"),
    (lambda m: hm.explain_batch(m, [IMAGE, IMAGE], [QUESTION]), r"2 images and 1 questions"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], batch_size=0), r"batch_size .* int 0"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], batch_size=-1), r"batch_size .* int -1"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], progress="yes"), r"progress must be None, True or False"),
    (lambda m: hm.explain_batch(m, [IMAGE], [], method="attention"), r"1 images and 0 questions"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], top_k=0, method="gradcam"), r"top_k"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], method=None), r"unknown method None"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], method="gradcam", answer=5), r"answer must be .* int 5"),
    (lambda m: hm.explain_batch(m, [IMAGE], [QUESTION], fixf=False), r"unknown option fixf"),
])
def test_out_of_range_options_raise_the_packages_error(model, call, words):
    with pytest.raises(ExplainArgumentError, match=words):
        call(model)


def test_method_errors_are_argument_errors():
    assert issubclass(MethodError, ExplainArgumentError) and issubclass(ExplainArgumentError, ValueError)


def test_the_documented_forms_still_work(model):
    stacked = numpy.stack([IMAGE, IMAGE])
    assert len(hm.explain_batch(model, stacked, (QUESTION, "is there a circle"), batch_size=1)) == 2
    assert len(hm.explain_batch(model, [IMAGE], [QUESTION], method="attention")) == 1


@pytest.mark.parametrize("value, words", [
    (None, r"explanation must be an Explanation .* NoneType"),
    ("e.npz", r"explanation must be an Explanation .* str 'e.npz'.*Explanation.load"),
])
def test_plot_explanation_refuses_what_is_not_an_explanation(value, words):
    with pytest.raises(ExplainArgumentError, match=words):
        hm.plot_explanation(value)


def test_plot_explanation_refuses_a_bad_z_limit(saved):
    with pytest.raises(ExplainArgumentError, match="z_limit"):
        hm.plot_explanation(hm.Explanation.load(saved), z_limit=0)


def craft(saved, tmp_path, text=None, arrays=None, drop=()):
    """A copy of the saved explanation with one change."""
    meta = copy.deepcopy(load_npz_metadata(saved))
    meta["explanation"].update(text or {})
    members = {**load_weights(saved), **(arrays or {})}
    for name in drop:
        members.pop(name)
    path = tmp_path / "crafted.npz"
    save_weights(path, members, metadata=meta)
    return path


@pytest.mark.parametrize("change, words", [
    ({"text": {"tokens": 5}}, "tokens must be a list of strings, not 5"),
    ({"text": {"tokens": None}}, "tokens must be a list of strings"),
    ({"text": {"tokens": [0, 1, 2, 3, 4]}}, "tokens must be a list of strings"),
    ({"text": {"top_k": 5}}, "top_k must be"),
    ({"text": {"top_k": [[1]]}}, "top_k must be"),
    ({"text": {"top_k": [["a", "x"]]}}, "top_k must be"),
    ({"text": {"probability": "high"}}, "probability must be a number in"),
    ({"text": {"probability": 2.0}}, "probability must be a number in"),
    ({"text": {"options": [1, 2]}}, "options must be an object"),
    ({"text": {"answer": 5}}, "answer must be a string"),
    ({"text": {"question": None}}, "question must be a string"),
    ({"text": {"unknown_words": 3}}, "unknown_words must be a list of strings"),
    ({"arrays": {"alpha": numpy.zeros((2, 0, 0))}}, "alpha must be a non-empty array"),
    ({"arrays": {"alpha": numpy.zeros((2, 3, 4))}}, r"alpha must be \(G, S, S\)"),
    ({"arrays": {"image": numpy.zeros((0, 0, 3), numpy.uint8), "heatmap": numpy.zeros((0, 0)),
                 "pixel_map": numpy.zeros((3, 0, 0)), "grad_v": numpy.zeros((3, 0, 0))}}, "must be a non-empty"),
    ({"arrays": {"token_z": numpy.zeros(5, complex)}}, "token_z must be a non-empty array of real numbers"),
    ({"arrays": {"heatmap": numpy.full((16, 16), numpy.nan)}}, "heatmap holds values that are not finite"),
    ({"drop": ("heatmap",)}, "lacks heatmap"),
])
def test_load_names_the_file_and_the_field_that_does_not_fit(saved, tmp_path, change, words):
    path = craft(saved, tmp_path, **change)
    with pytest.raises(ExplanationFileError, match=words) as caught:
        hm.Explanation.load(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_save_never_replaces_a_file_that_is_not_an_explanation(saved, tmp_path):
    weights = tmp_path / "model.npz"
    save_weights(weights, {"w": numpy.ones(3)})
    before = weights.read_bytes()
    e = hm.Explanation.load(saved)
    with pytest.raises(ExplanationFileError, match="not an explanation file: it would be overwritten"):
        e.save(weights)
    assert weights.read_bytes() == before
    again = tmp_path / "again.npz"
    shutil.copy(saved, again)
    e.save(again)                                  # an explanation may be written over an explanation
    assert hm.Explanation.load(again).question == e.question
    with pytest.raises(OSError, match="folder"):
        e.save(tmp_path)


@pytest.mark.parametrize("loader, argument", [("load_model", 123), ("load_weights", None), ("load_weights", 1.5)])
def test_the_loaders_refuse_what_is_not_a_path(loader, argument):
    from hadamard_min.io.errors import WeightsError
    with pytest.raises(WeightsError, match="path"):
        getattr(hm, loader)(argument)


# ---- the edges: NumPy scalars for options, a map or size that cannot be drawn, an Axes that is not one, a
# model path that names no file, a destination where no file can be made, an extreme heat-map
@pytest.fixture(scope="module")
def explanation(model):
    return hm.explain(model, IMAGE, QUESTION)


def test_numpy_scalars_as_options_save_and_load(model, tmp_path):
    """A NumPy int or bool is taken as the Python value it is: the explanation saves as JSON and loads back."""
    e = hm.explain(model, IMAGE, QUESTION, top_k=numpy.int64(3), fix_f=numpy.bool_(False))
    assert e.options["top_k"] == 3 and type(e.options["top_k"]) is int and e.options["fix_f"] is False
    hm.Explanation.load(e.save(tmp_path / "e.npz"))
    assert len(e.to_json()["top_k"]) == 3


def test_a_top_k_beyond_the_answers_is_all_the_answers_and_saves(model, tmp_path):
    e = hm.explain(model, IMAGE, QUESTION, top_k=10 ** 40)
    assert e.options["top_k"] == len(model.answers) == len(e.top_k)
    assert hm.Explanation.load(e.save(tmp_path / "e.npz")).options["top_k"] == len(model.answers)


@pytest.mark.parametrize("values, size", [("heatmap", None), (1.0, None), (None, None), (numpy.zeros((0, 0)), None),
                                          (numpy.ones(4), None), (numpy.full((2, 2), numpy.nan), None),
                                          (numpy.ones((2, 2), complex), None), (numpy.ones((2, 2)), (-1, -1)),
                                          (numpy.ones((2, 2)), (2.5, 3.5)), (numpy.ones((2, 2)), 5),
                                          (numpy.ones((2, 2)), (2, 3, 4)), (numpy.ones((2, 2)), (True, 3)),
                                          (numpy.ones((2, 2)), (10 ** 5, 10 ** 5)), (numpy.full((2, 2), 1e300), None)])
def test_at_image_refuses_what_it_cannot_draw(explanation, values, size):
    with pytest.raises(ExplainArgumentError, match=r"map must be|size must be"):
        explanation.at_image(values, size=size)


def test_at_image_draws_every_map_of_the_explanation(explanation):
    height, width = explanation.image.shape[:2]
    assert explanation.at_image(explanation.heatmap).shape == (height, width)
    assert explanation.at_image(explanation.pixel_map, size=(numpy.int64(5), 7)).shape == (3, 5, 7)


def test_plot_explanation_wants_an_axes_for_ax(explanation):
    with pytest.raises(ExplainArgumentError, match="ax must be None or a matplotlib Axes"):
        hm.plot_explanation(explanation, ax="ax")


@pytest.mark.parametrize("name", ["alpha", "pixel_map", "heatmap"])
@pytest.mark.parametrize("value", [numpy.nan, numpy.inf, 1e308])
def test_plot_explanation_refuses_a_map_it_cannot_draw(explanation, name, value):
    changed = copy.copy(explanation)
    setattr(changed, name, numpy.full_like(getattr(explanation, name), value, dtype=numpy.float64))
    with pytest.raises(ExplainArgumentError, match=f"explanation's {name} holds NaN, infinity or values beyond"):
        hm.plot_explanation(changed)


def test_overlay_wants_a_framing_for_framing():
    with pytest.raises(ExplainArgumentError, match=r"framing must be None or an explanation.s e\.framing"):
        hm.overlay(IMAGE, numpy.ones((2, 2)), framing="x")


@pytest.mark.parametrize("scale", [1e-46, 1e-300, 3.5e38, 1e300])
def test_overlay_of_a_map_at_any_finite_scale_is_that_of_the_same_map_at_scale_one(scale):
    """The picture depends on h / t only; a map past float32's range (either way) drew black or nothing."""
    heat = numpy.array([[1.0, 0.0], [0.25, 0.5]])
    numpy.testing.assert_array_equal(hm.overlay(IMAGE, heat * scale), hm.overlay(IMAGE, heat))


@pytest.mark.parametrize("path, words", [("", "is a folder"), (".", "is a folder"), ("/", "is a folder"),
                                         ("a" * 300 + ".npz", "File name too long")])
def test_load_model_of_a_path_that_names_no_file(path, words):
    with pytest.raises(ModelFileError, match=words):
        hm.load_model(path)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no file can be made")
def test_save_where_no_file_can_be_made_names_the_destination(explanation):
    """Not the hidden temporary name the file would have been written under first (/proc takes no new file,
    even from root, for whom a read-only folder is writable)."""
    target = "/proc/e.npz"
    with pytest.raises(OSError) as error:
        explanation.save(target)
    assert error.value.filename == target and ".tmp" not in str(error.value)


def test_explanations_compare_by_value_and_a_saved_one_loads_equal(model, tmp_path):
    hadamard, attention = hm.explain(model, IMAGE, QUESTION), hm.explain(model, IMAGE, QUESTION, method="attention")
    for e in (hadamard, attention):  # attention's token z-scores are NaN: equal where both are NaN
        e.save(tmp_path / "e.npz")
        assert hm.Explanation.load(tmp_path / "e.npz") == e == copy.deepcopy(e)
        (tmp_path / "e.npz").unlink()
    assert hadamard != attention and hadamard in [attention, hadamard]
    changed = copy.deepcopy(hadamard)
    changed.heatmap[0, 0] += 1e-9
    assert changed != hadamard and hadamard != "an explanation"


@pytest.mark.parametrize("change, words", [
    (lambda e: {"token_z": e.token_z[:3]}, r"token_z has shape \(3,\)"),
    (lambda e: {"top_k": []}, "top_k must be a non-empty list"),
    (lambda e: {"probability": 2.0}, r"probability must be a number in \[0, 1\]"),
])
def test_save_refuses_an_explanation_that_would_not_load_back(explanation, tmp_path, change, words):
    """save wrote a hand-changed explanation that load then refused, naming the field."""
    import dataclasses
    changed = dataclasses.replace(explanation, **change(explanation))
    with pytest.raises(ExplainArgumentError, match=f"would not load back \\({words}"):
        changed.save(tmp_path / "e.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_explain_batch_names_the_pair_an_unreadable_image_or_question_is_in(model, workers):
    pairs = [IMAGE] * 5, [QUESTION] * 5
    bad_image = [IMAGE, IMAGE, IMAGE, "no/such.png", IMAGE], pairs[1]
    with pytest.raises(ImageError, match=r"^images\[3\]: image not found: no/such.png"):
        hm.explain_batch(model, *bad_image, batch_size=2, workers=workers)
    bad_question = pairs[0], [QUESTION, QUESTION, "   ", QUESTION, QUESTION]
    for method in ("hadamard", "gradcam"):
        with pytest.raises(QuestionError, match=r"^questions\[2\]: the question is empty"):
            hm.explain_batch(model, *bad_question, batch_size=2, workers=workers, method=method)
    with pytest.raises(QuestionError, match=r"^the question is empty"):  # one pair: nothing to place
        hm.explain(model, IMAGE, "   ")

