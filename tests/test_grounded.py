"""The grounded map (explain.grounded): ∇v with the attention held, weighted by the upsampled attention."""
import numpy
import pytest
from references import IMAGES, QUESTIONS, tiny_float64_model

from hadamard_min import Tensor, no_grad
from hadamard_min.evaluate.sanity import sanity_check
from hadamard_min.explain import baselines
from hadamard_min.explain.grounded import grounded_gradients, grounded_maps, held_attention_output
from hadamard_min.explain.hadamard import deviation_gradients
from hadamard_min.explain.methods import explain_batch


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


def inputs(model):
    return baselines.network_inputs(model, IMAGES)


def held_loss(model, images, alpha, F0):
    """½‖V(α₀, F(I')) − F₀‖² by a plain forward pass: the features read I', the attention stays α₀."""
    with no_grad():
        features = model.backbone.features(Tensor(images), pre_relu=model.pre_relu)
        _, V = model.mlb.visual(Tensor(alpha), model.mlb.grid(features))
    return 0.5 * float(((V.data - F0) ** 2).sum())


def test_held_attention_gradient_equals_central_differences(model):
    """With plain ReLUs, ∇v^α = ∂/∂I of ½‖V − F₀‖² where α is the constant α₀ of the unperturbed image."""
    images = inputs(model)
    with model.frozen():
        out, I, q, _ = model.forward_from_leaves(images, QUESTIONS)
        grad_v, _ = deviation_gradients(held_attention_output(model, out), I, q, guided=False)
    alpha = out.alpha.data.reshape(*out.alpha.shape[:2], -1)
    F0 = out.F.data
    rng = numpy.random.default_rng(3)
    for _ in range(3):
        d, h = rng.normal(size=images.shape), 1e-5
        numeric = (held_loss(model, images + h * d, alpha, F0) - held_loss(model, images - h * d, alpha, F0)) / (2 * h)
        assert float((grad_v * d).sum()) == pytest.approx(numeric, rel=1e-6, abs=1e-10)


def test_without_holding_alpha_it_is_the_papers_gradient_and_holding_alpha_changes_it(model):
    paper = numpy.stack([e.grad_v for e in explain_batch(model, IMAGES, QUESTIONS)])
    numpy.testing.assert_allclose(grounded_gradients(model, inputs(model), QUESTIONS, False).image, paper,
                                  rtol=1e-12, atol=1e-15)
    held = grounded_gradients(model, inputs(model), QUESTIONS).image
    assert not numpy.allclose(held, paper)       # the path through α carries part of ∇v


def test_the_map_is_the_gradients_magnitude_times_the_upsampled_attention(model):
    g = grounded_gradients(model, inputs(model), QUESTIONS)
    magnitude = numpy.abs(g.image).sum(axis=1)                              # (B, 16, 16)
    block = numpy.ones((8, 8))                                              # α is 2 × 2, the image 16 × 16
    mean = numpy.stack([numpy.kron(a.mean(axis=0), block) for a in g.alpha])
    last = numpy.stack([numpy.kron(a[-1], block) for a in g.alpha])
    numpy.testing.assert_allclose(grounded_maps(g.image, g.alpha), magnitude * mean, rtol=1e-12)
    numpy.testing.assert_allclose(grounded_maps(g.image, g.alpha, glimpse=-1), magnitude * last, rtol=1e-12)
    assert g.words.shape[:2] == (2, 6) and numpy.all(numpy.isfinite(g.words))


def test_sanity_cascade_moves_the_map_at_the_attention_and_the_gru_not_at_the_classifier(model):
    """½‖V − F‖² never reads the classifier P_o (the check fails there by design); α and the GRU change it."""
    result = sanity_check(model, IMAGES, QUESTIONS, {"grounded": ("visual", baselines.VISUAL_METHODS["grounded"])})
    scores = dict(zip(result["steps"], (numpy.mean(s) for s in result["scores"]["grounded"])))
    assert scores["classifier"] == pytest.approx(1.0, abs=1e-12)
    assert scores["attention"] < 0.999 and scores["GRU"] < 0.999
