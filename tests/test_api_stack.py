"""One API: method= and answer= on explain and explain_batch, hm.stack for other tools, hm.example()."""
import numpy
import pytest
from PIL import Image
from references import IMAGES, QUESTIONS, tiny_float64_model

import hadamard_min as hm
from hadamard_min.explain.maps import clipped
from hadamard_min.explain.methods import MethodError


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


def test_explain_takes_method_and_answer(model):
    e = hm.explain(model, IMAGES[0], QUESTIONS[0], method="gradcam", answer="no")
    assert e.method == "gradcam" and e.target == "no"
    batch = hm.explain_batch(model, list(IMAGES[:2]), QUESTIONS[:2], method="gradcam", answer="no")
    numpy.testing.assert_allclose(batch[0].heatmap, e.heatmap, rtol=1e-10, atol=1e-14)  # float64 either way


def test_one_answer_per_pair(model):
    answers = ["no", "yes"]
    each = hm.explain_batch(model, list(IMAGES[:2]), QUESTIONS[:2], method="saliency", answer=answers)
    assert [e.target for e in each] == answers
    for b, answer in enumerate(answers):
        alone = hm.explain(model, IMAGES[b], QUESTIONS[b], method="saliency", answer=answer)
        numpy.testing.assert_allclose(each[b].grad_v, alone.grad_v, rtol=1e-9, atol=1e-15)  # float64 model
    with pytest.raises(MethodError, match="1 answers for 2 pairs"):
        hm.explain_batch(model, list(IMAGES[:2]), QUESTIONS[:2], method="saliency", answer=["no"])
    with pytest.raises(MethodError, match="no answer 'maybe'"):
        hm.explain_batch(model, list(IMAGES[:2]), QUESTIONS[:2], method="saliency", answer=["no", "maybe"])
    with pytest.raises(MethodError, match="explains no particular answer"):
        hm.explain(model, IMAGES[0], QUESTIONS[0], answer="no")


def test_stack_gives_arrays_with_padded_tokens(model):
    questions = [*QUESTIONS, "is there a circle"]
    explanations = hm.explain_batch(model, [*IMAGES, IMAGES[0]], questions)
    s = hm.stack(explanations)
    longest = max(len(e.tokens) for e in explanations)
    assert s.maps.shape == (3, 3, 16, 16) and s.maps.dtype == numpy.float32
    assert s.inputs.shape == (3, 16, 16, 3) and s.inputs.dtype == numpy.uint8
    assert s.token_scores.shape == s.token_z.shape == s.token_mask.shape == (3, longest)
    for n, e in enumerate(explanations):
        rho = len(e.tokens)
        numpy.testing.assert_allclose(s.maps[n], e.grad_v, rtol=1e-6)
        numpy.testing.assert_allclose(s.token_z[n, :rho], e.token_z, rtol=1e-6)
        assert s.token_mask[n].sum() == rho and (s.token_scores[n, rho:] == 0).all()
        assert s.tokens[n][:rho] == e.tokens and set(s.tokens[n][rho:]) <= {""}
    cams = hm.stack(hm.explain_batch(model, list(IMAGES[:2]), QUESTIONS[:2], method="gradcam"))
    assert cams.maps.shape == (2, 1, 16, 16)
    with pytest.raises(hm.ExplainArgumentError, match="one model and one method"):
        hm.stack([explanations[0], hm.explain(model, IMAGES[0], QUESTIONS[0], method="gradcam")])
    with pytest.raises(hm.ExplainArgumentError):
        hm.stack([])


@pytest.mark.parametrize("change", [{"glimpses": 1}, {"word_dim": 6}])
def test_stack_refuses_explanations_of_two_models(model, change):
    from references import CONFIG
    other = tiny_float64_model({**CONFIG, **change})
    ours, theirs = (hm.explain(m, IMAGES[0], QUESTIONS[0]) for m in (model, other))
    assert ours.input_image.shape == theirs.input_image.shape  # one input size: only the model differs
    with pytest.raises(hm.ExplainArgumentError, match="one model, not of models with attention maps"):
        hm.stack([ours, theirs])
    assert len(hm.stack([ours, ours]).answers) == 2


def test_example_is_the_shipped_pair():
    image, question = hm.example()
    root = hm.__path__[0] + "/assets/"
    numpy.testing.assert_array_equal(image, numpy.asarray(Image.open(root + "example.png").convert("RGB")))
    assert question == open(root + "example.txt", encoding="utf-8").read().strip() and question.endswith("?")


def test_captum_and_quantus_take_the_stacked_arrays(model):
    """The recipes of explain.stacked, run: Captum's view (and its clipping equals ours) and a Quantus metric."""
    visualization = pytest.importorskip("captum.attr._utils.visualization")
    quantus = pytest.importorskip("quantus")
    from matplotlib.figure import Figure

    s = hm.stack(hm.explain_batch(model, list(IMAGES[:2]), QUESTIONS[:2], method="saliency"))
    figure = Figure()
    ax = figure.add_subplot()
    visualization.visualize_image_attr(s.maps[0].transpose(1, 2, 0), s.inputs[0], method="blended_heat_map",
                                       sign="absolute_value", outlier_perc=2, plt_fig_axis=(figure, ax),
                                       use_pyplot=False)
    assert ax.images
    attr = s.maps[0].transpose(1, 2, 0).astype(numpy.float64)
    theirs = visualization._normalize_attr(attr.sum(axis=2), "absolute_value", 2)  # as visualize_image_attr
    numpy.testing.assert_allclose(clipped(numpy.abs(attr.sum(axis=2)), 2), theirs, rtol=1e-6, atol=1e-7)
    x = (s.inputs.transpose(0, 3, 1, 2) / 255).astype("float32")
    scores = quantus.Sparseness(disable_warnings=True)(model=None, x_batch=x, y_batch=numpy.zeros(len(x), int),
                                                       a_batch=s.maps, channel_first=True)
    assert len(scores) == 2 and all(0 <= score <= 1 for score in scores)


def test_the_grounded_map_is_stacked_as_its_weighted_heatmap(model):
    many = hm.explain_batch(model, list(IMAGES[:2]), QUESTIONS[:2], method="grounded")
    s = hm.stack(many)
    assert s.maps.shape == (2, 1, *many[0].heatmap.shape)
    numpy.testing.assert_allclose(s.maps[:, 0], numpy.stack([e.heatmap for e in many]), rtol=1e-6)
