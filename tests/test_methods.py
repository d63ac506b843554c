"""The methods a user picks (method= / --method): each map is the baseline's, and a chosen answer is explained."""
import numpy
import pytest
from references import ANSWERS, IMAGES, QUESTIONS, tiny_float64_model

from hadamard_min import Tensor, no_grad
from hadamard_min.data.images import ImageError
from hadamard_min.data.text import QuestionError
from hadamard_min.explain import baselines
from hadamard_min.explain.methods import METHODS, MethodError, explain_batch
from hadamard_min.explain.postprocess import gradient_heatmap, token_scores, token_z_scores


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


def unit(maps):
    return maps / maps.max(axis=(1, 2), keepdims=True)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_the_baselines_map_and_the_models_answer(model, method):
    results = explain_batch(model, IMAGES, QUESTIONS, method=method)
    probabilities = baselines.answer_gradients(model, IMAGES, QUESTIONS).probabilities
    expected_heat = {
        "hadamard": [e.heatmap for e in explain_batch(model, IMAGES, QUESTIONS)],
        "saliency": [gradient_heatmap(m) for m in baselines.saliency(model, IMAGES, QUESTIONS)],
        "guided": [gradient_heatmap(m) for m in baselines.guided_backprop(model, IMAGES, QUESTIONS)],
        "gradcam": unit(baselines.grad_cam(model, IMAGES, QUESTIONS)),
        "grounded": unit(baselines.VISUAL_METHODS["grounded"](model, IMAGES, QUESTIONS)),
        "attention": unit(baselines.attention_mean(model, IMAGES, QUESTIONS)),
    }[method]
    for b, e in enumerate(results):
        assert e.method == method and e.answer == ANSWERS[probabilities[b].argmax()]
        assert e.probability == pytest.approx(probabilities[b].max(), rel=1e-12)
        numpy.testing.assert_allclose(e.heatmap, expected_heat[b], rtol=1e-12, atol=1e-15)
        assert e.heatmap.shape == (16, 16) and e.image.shape == (16, 16, 3) and e.alpha.shape == (2, 2, 2)
        assert e.target == (e.answer if method in ("saliency", "guided", "gradcam") else None)
        assert len(e.token_z) == len(e.tokens)


def test_gradient_methods_score_tokens_by_the_answer_gradient(model):
    g = baselines.answer_gradients(model, IMAGES, QUESTIONS)
    for b, e in enumerate(explain_batch(model, IMAGES, QUESTIONS, method="saliency")):
        words = g.words[b, :len(e.tokens)]
        numpy.testing.assert_allclose(e.grad_q, words, rtol=1e-12)
        numpy.testing.assert_allclose(e.token_z, token_z_scores(token_scores(words)), rtol=1e-12)
        numpy.testing.assert_allclose(e.grad_v, g.image[b], rtol=1e-12)


def logit(model, image, words, lengths, answer):
    with no_grad():
        return model.forward_words(Tensor(image[None]), Tensor(words[None]), lengths).logits.data[0, answer]


@pytest.mark.parametrize("method", ["saliency", "guided", "gradcam"])
def test_a_chosen_answer_is_explained_instead_of_the_top_one(model, method):
    chosen = [e for e in explain_batch(model, IMAGES, QUESTIONS, method=method, answer="no")]
    top = explain_batch(model, IMAGES, QUESTIONS, method=method)
    assert all(e.target == "no" != t.target for e, t in zip(chosen, top))
    assert all(e.answer == t.answer for e, t in zip(chosen, top))    # the model's answer is still reported
    assert not numpy.allclose(chosen[0].heatmap, top[0].heatmap)


def test_saliency_of_a_chosen_answer_equals_central_differences_of_its_logit(model):
    """∂ logit_k / ∂I along random directions, k = "no" (not the model's answer)."""
    k = ANSWERS.index("no")
    maps = baselines.saliency(model, IMAGES, QUESTIONS, answers=[k, k])
    rng = numpy.random.default_rng(5)
    for b in range(2):
        ids, lengths = model.encode_questions([QUESTIONS[b]])
        image, words = model.prepare_image(IMAGES[b])[1], model.encoder.embed(ids).data[0]
        for _ in range(2):
            d, h = rng.normal(size=image.shape), 1e-6
            expected = (logit(model, image + h * d, words, lengths, k)
                        - logit(model, image - h * d, words, lengths, k)) / (2 * h)
            assert (maps[b] * d).sum() == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kwargs, words", [
    ({"method": "lime"}, "unknown method"),
    ({"method": "hadamard", "answer": "red"}, "explains no particular answer"),
    ({"method": "attention", "answer": "red"}, "explains no particular answer"),
    ({"method": "saliency", "answer": "purple"}, "no answer 'purple'"),
    ({"method": "gradcam", "fix_f": False}, "only for the hadamard method"),
])
def test_method_errors(model, kwargs, words):
    with pytest.raises(MethodError, match=words):
        explain_batch(model, IMAGES, QUESTIONS, **kwargs)


def test_answer_indices_are_checked(model):
    for bad in ([0], [0, 6], [-1, 0], [0.5, 1.0]):
        with pytest.raises(ValueError):
            baselines.answer_gradients(model, IMAGES, QUESTIONS, answers=bad)



LONG_WORD = "a " + "w" * 1500  # its word 2 is refused when tokenized


@pytest.mark.parametrize("method, images, questions, error, words", [
    # hadamard reads every question before any image: the long word is the chunk's error, not the missing image
    ("hadamard", ["no/such.png", IMAGES[0]], [QUESTIONS[0], LONG_WORD], QuestionError, r"^questions\[1\]: .*word 2"),
    # a baseline reads every image before any question
    ("gradcam", [IMAGES[0], "no/such.png"], ["   ", QUESTIONS[0]], ImageError, r"^images\[1\]: image not found"),
    # two questions that fail differently: the one the chunk raised is named, not the first that fails alone
    ("hadamard", IMAGES[:2], [" ".join(["red"] * 99), LONG_WORD], QuestionError, r"^questions\[1\]: .*word 2"),
])
def test_explain_batch_places_the_error_the_chunk_raised(model, method, images, questions, error, words):
    with pytest.raises(error, match=words):
        explain_batch(model, images, questions, method=method)
