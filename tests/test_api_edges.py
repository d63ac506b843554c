"""The Python API at its edges: NumPy scalars for options, a map or size that cannot be drawn, an Axes that is
not one, a model path that names no file, a destination where no file can be made, an extreme heat-map. Each
is one error of the package's (or an answer that is right), never an error from inside NumPy or matplotlib."""
import os

import numpy
import pytest
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.io.model_files import ModelFileError

IMAGE = numpy.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)
QUESTION = "what color is the shape?"


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


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
                                          (numpy.ones((2, 2)), (10 ** 5, 10 ** 5))])
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
