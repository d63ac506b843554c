"""The comparison methods on a small random float64 model: shapes, finite differences, Grad-CAM by hand."""
import numpy
import pytest
from references import IMAGES, QUESTIONS, bilinear, tiny_float64_model

from hadamard_min import Tensor, no_grad
from hadamard_min.explain.baselines import (
    FLOORS,
    TEXT_METHODS,
    VISUAL_METHODS,
    answer_gradients,
    attention_maps,
    centre_blob,
    grad_cam,
    gradient_times_input,
    gradient_tokens,
    random_map,
    saliency,
    visual_methods,
)
from hadamard_min.explain.methods import explain_batch


@pytest.fixture(scope="module")
def model():
    """Random weights in float64, batch norms with non-trivial statistics."""
    return tiny_float64_model()


def answer_logit(model, image, words, lengths):
    """The logits (K,) as a function of the image I (3, H, W) and the word vectors q (T, D)."""
    with no_grad():
        out = model.forward_words(Tensor(image[None]), Tensor(words[None]), lengths)
    return out.logits.data[0]


def base_point(model, b):
    ids, lengths = model.encode_questions([QUESTIONS[b]])
    image = model.prepare_image(IMAGES[b])[1]
    return image, model.encoder.embed(ids).data[0], lengths


def test_every_method_gives_one_map_per_example_at_the_input_size(model):
    methods = visual_methods(model)
    assert list(methods)[3:5] == ["attention α1", "attention α2"]
    assert set(VISUAL_METHODS) <= set(methods) and set(FLOORS) <= set(methods)
    for name, method in methods.items():
        maps = method(model, IMAGES, QUESTIONS, numpy.random.default_rng(0))
        assert maps.shape in ((2, 16, 16), (2, 3, 16, 16)), name
        assert maps.dtype == numpy.float64 and numpy.isfinite(maps).all(), name
    for name, method in TEXT_METHODS.items():
        scores = method(model, IMAGES, QUESTIONS, numpy.random.default_rng(0))
        assert [s.shape for s in scores] == [(5,), (5,)], name


def test_saliency_equals_central_differences_of_the_answer_logit(model):
    maps = saliency(model, IMAGES, QUESTIONS)
    rng = numpy.random.default_rng(3)
    for b in range(2):
        image, words, lengths = base_point(model, b)
        answer = answer_logit(model, image, words, lengths).argmax()
        for _ in range(2):
            direction = rng.normal(size=image.shape)
            h = 1e-6
            up = answer_logit(model, image + h * direction, words, lengths)[answer]
            down = answer_logit(model, image - h * direction, words, lengths)[answer]
            assert (maps[b] * direction).sum() == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)


def test_word_gradient_equals_central_differences_and_feeds_both_text_scores(model):
    g = answer_gradients(model, IMAGES, QUESTIONS)
    h = 1e-6
    for b in range(2):
        image, words, lengths = base_point(model, b)
        expected = numpy.zeros_like(words)
        for t in range(lengths[0]):
            for d in range(words.shape[1]):
                step = numpy.zeros_like(words)
                step[t, d] = h
                expected[t, d] = (answer_logit(model, image, words + step, lengths)[g.answers[b]]
                                  - answer_logit(model, image, words - step, lengths)[g.answers[b]]) / (2 * h)
        numpy.testing.assert_allclose(g.words[b], expected, rtol=1e-6, atol=1e-9)
        n = lengths[0]
        numpy.testing.assert_allclose(gradient_tokens(model, IMAGES, QUESTIONS)[b],
                                      numpy.abs(expected[:n]).sum(1), rtol=1e-6, atol=1e-12)
        numpy.testing.assert_allclose(gradient_times_input(model, IMAGES, QUESTIONS)[b],
                                      numpy.abs((expected[:n] * words[:n]).sum(1)), rtol=1e-6, atol=1e-12)


def test_grad_cam_against_a_hand_computation(model):
    """∂y/∂A by central differences through the MLB alone, then w = spatial mean, ReLU(Σ w A), upsampled
    bilinearly."""
    cams = grad_cam(model, IMAGES, QUESTIONS)
    for b in range(2):
        image, words, lengths = base_point(model, b)
        with no_grad():
            features = model.backbone.features(Tensor(image[None]), pre_relu=True).data
            question = model.encoder.encode(Tensor(words[None]), lengths)

            def logits(a, question=question):
                return model.mlb(question, Tensor(a)).logits.data[0]

            answer = logits(features).argmax()
            grad = numpy.zeros_like(features)
            for index in numpy.ndindex(features.shape):
                step = numpy.zeros_like(features)
                step[index] = 1e-6
                grad[index] = (logits(features + step)[answer] - logits(features - step)[answer]) / 2e-6
        weights = grad[0].mean(axis=(1, 2))
        cam = numpy.maximum((weights[:, None, None] * features[0]).sum(axis=0), 0)       # (S, S)
        numpy.testing.assert_allclose(cams[b], bilinear(cam, 16, 16), rtol=1e-5, atol=1e-10)



def test_attention_maps_are_the_alphas_upsampled_in_blocks(model):
    alpha = attention_maps(model, IMAGES, QUESTIONS)
    methods = visual_methods(model)
    block = numpy.ones((16 // alpha.shape[-1],) * 2)
    for g in range(2):
        maps = methods[f"attention α{g + 1}"](model, IMAGES, QUESTIONS)
        for b in range(2):
            numpy.testing.assert_allclose(maps[b], numpy.kron(alpha[b, g], block))
    mean = methods["attention (mean)"](model, IMAGES, QUESTIONS)
    numpy.testing.assert_allclose(mean[0], numpy.kron(alpha[0].mean(axis=0), block))


@pytest.mark.parametrize("name, options", [("hadamard", {}), ("hadamard, F not fixed", {"fix_f": False}),
                                           ("hadamard, not guided", {"guided": False})])
def test_hadamard_variants_are_explain_with_their_options(model, name, options):
    maps = VISUAL_METHODS[name](model, IMAGES, QUESTIONS)
    for b, e in enumerate(explain_batch(model, list(IMAGES), QUESTIONS, **options)):
        numpy.testing.assert_array_equal(maps[b], e.grad_v)
    text = TEXT_METHODS["hadamard"](model, IMAGES, QUESTIONS)
    numpy.testing.assert_array_equal(text[1], explain_batch(model, list(IMAGES), QUESTIONS)[1].token_z)


def test_guided_backprop_is_not_the_plain_gradient(model):
    guided = VISUAL_METHODS["guided backprop"](model, IMAGES, QUESTIONS)
    plain = saliency(model, IMAGES, QUESTIONS)
    assert numpy.abs(guided - plain).max() > 1e-3 * numpy.abs(plain).max()


def test_floors_random_is_seeded_and_the_blob_is_centred(model):
    a = random_map(model, IMAGES, QUESTIONS, numpy.random.default_rng(5))
    numpy.testing.assert_array_equal(a, random_map(model, IMAGES, QUESTIONS, numpy.random.default_rng(5)))
    assert 0 <= a.min() and a.max() < 1
    blob = centre_blob(model, IMAGES, QUESTIONS)[0]
    assert blob[7:9, 7:9].min() == blob.max()
    numpy.testing.assert_allclose(blob, blob[::-1, ::-1])


def test_methods_leave_the_model_as_it_was(model):
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    flags = [p.requires_grad for p in model.parameters()]
    for method in visual_methods(model).values():
        method(model, IMAGES, QUESTIONS, numpy.random.default_rng(0))
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not model.training and not model.is_frozen
    assert all(getattr(m, "inference_form", None) is None for _, m in model.named_modules())
    for name, p in model.named_parameters():
        numpy.testing.assert_array_equal(p.data, before[name])
