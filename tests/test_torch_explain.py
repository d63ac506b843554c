"""``torch_explain.explain_torch``, the paper's method for a user's PyTorch model: on the shipped model's torch
twin (``oracle/torch_vqa.py``) in float32 it equals our engine's float64 explanation to float32 rounding, and
its ReLU and ReLU6 modules pass back their closed-form rules (gradient for ∇q, guided for ∇v)."""
from pathlib import Path

import numpy
import pytest

from hadamard_min.explain.methods import explain_batch
from hadamard_min.io.model_files import load_model
from hadamard_min.oracle.torch_vqa import torch_vqa

EXAMPLE = Path(__file__).resolve().parent.parent / "hadamard_min" / "assets" / "example.png"
QUESTIONS = ["is there not a black shape in the image?", "what color is the shape?", "is it a circle"]
FLOAT32 = 1e-5  # float32 rounding through the network, relative to the largest value of the float64 reference


def relative_error(ours, reference):
    return numpy.abs(numpy.asarray(ours, numpy.float64) - reference).max() / numpy.abs(reference).max()


@pytest.fixture(scope="module")
def shipped():
    """The shipped model (float32), its inputs, and our engine's explanation in float64 (the reference)."""
    model32, model64 = load_model(), load_model().astype(numpy.float64)
    images = [EXAMPLE, EXAMPLE, numpy.random.default_rng(3).integers(0, 256, (48, 80, 3), dtype=numpy.uint8)]
    reference = explain_batch(model64, images, QUESTIONS)
    inputs = numpy.stack([model32.prepare_image(image)[1] for image in images])
    ids, lengths = model32.encode_questions(QUESTIONS)
    return model32, inputs, ids, lengths, reference


def explain_twin(torch, shipped, guided=True):
    """explain_torch on the shipped model's torch twin in float32, as a user would call it on their model."""
    from hadamard_min.torch_explain import explain_torch

    model, inputs, ids, lengths, _ = shipped
    net = torch_vqa(model, torch)
    result = explain_torch(lambda I, q: net(I, q, torch.from_numpy(lengths)), torch.from_numpy(inputs),
                           net.embedding(torch.from_numpy(ids)), relus=net, lengths=lengths, guided=guided)
    return net, result


def test_on_the_shipped_models_twin_it_equals_our_engine_to_float32_rounding(torch, shipped):
    model, _, _, lengths, reference = shipped
    net, result = explain_twin(torch, shipped)
    assert result.grad_v.dtype == torch.float32 and len(set(lengths.tolist())) == 3
    for b, expected in enumerate(reference):
        assert relative_error(result.grad_v[b].numpy(), expected.grad_v) < FLOAT32
        assert relative_error(result.grad_q[b, :lengths[b]].numpy(), expected.grad_q) < FLOAT32
        assert relative_error(result.pixel_map[b], expected.pixel_map) < FLOAT32          # eq. 9
        assert relative_error(result.heatmap[b], expected.heatmap) < FLOAT32
        assert relative_error(result.token_scores[b], expected.token_scores) < FLOAT32    # eq. 10
        numpy.testing.assert_allclose(result.token_z[b], expected.token_z, atol=FLOAT32)   # eq. 11, order 1
        assert model.answers[torch.argmax(result.outputs["logits"][b])] == expected.answer
    assert "forward" not in net.backbone.relu.__dict__  # the module's own forward is back


def test_without_the_guided_rule_the_shipped_twin_would_not_match(torch, shipped):
    """The ReLU modules matter: plain gradients through them move ∇v far beyond float32 rounding."""
    _, plain = explain_twin(torch, shipped, guided=False)
    assert relative_error(plain.grad_v[0].numpy(), shipped[-1][0].grad_v) > 100 * FLOAT32


@pytest.mark.parametrize("module, upper", [("ReLU", numpy.inf), ("ReLU6", 6.0)])
def test_relu_modules_pass_back_their_closed_form_rules(torch, rng, module, upper):
    """V = R(I) (an in-place ReLU or ReLU6 module), Q = 2 tanh(q): ∇v = (V − F)·[0 < I < u]·[V − F > 0] (guided),
    ∇q = (Q − F)·2(1 − tanh² q) (ordinary), F = Q ∘ V held constant."""
    from hadamard_min.torch_explain import explain_torch

    relu = getattr(torch.nn, module)(inplace=True).eval()
    x = rng.uniform(0.1, 8, (2, 3, 4, 4)) * rng.choice([-1, 1], (2, 3, 4, 4))   # beyond 6, both signs
    words = rng.uniform(-2, 2, (2, 12, 4))

    def forward(I, q):
        V = relu(I * 1.0).flatten(1)
        Q = 2 * torch.tanh(q).flatten(1)  # beyond 1: V − F = V (1 − Q) takes both signs
        return Q, V, Q * V

    result = explain_torch(forward, torch.from_numpy(x), torch.from_numpy(words), relus=relu)
    V, Q = numpy.clip(x, 0, upper).reshape(2, -1), 2 * numpy.tanh(words).reshape(2, -1)
    dy = V - Q * V
    expected_v = (dy * ((x.reshape(2, -1) > 0) & (x.reshape(2, -1) < upper)) * (dy > 0)).reshape(x.shape)
    expected_q = ((Q - Q * V) * 2 * (1 - (Q / 2) ** 2)).reshape(words.shape)
    numpy.testing.assert_allclose(result.grad_v.numpy(), expected_v, rtol=1e-14, atol=0)
    numpy.testing.assert_allclose(result.grad_q.numpy(), expected_q, rtol=1e-14, atol=1e-300)
    assert (dy < 0).any() and (expected_v != 0).any() and "forward" not in relu.__dict__
    assert ((x.reshape(2, -1) > 6) & (dy > 0)).any()  # where ReLU and ReLU6 differ
    assert result.token_scores[0].shape == (12,) and result.pixel_map.shape == x.shape


def test_a_forward_that_returns_no_q_v_f_is_refused(torch):
    from hadamard_min.torch_explain import explain_torch

    with pytest.raises(ValueError, match="forward must return"):
        explain_torch(lambda I, q: {"logits": I}, torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 3), guided=False)
    with pytest.raises(ValueError, match="one shape"):
        explain_torch(lambda I, q: (q, I, I), torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 3), guided=False)


def test_the_readmes_example_runs_on_a_small_model(torch):
    """The README's example, verbatim, on a model with the methods it names: ∇v, ∇q and eq. 9-11 come out."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = readme.split("### The method on your own PyTorch model")[1].split("```python")[1].split("```")[0]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.words = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 6)
            self.conv, self.relu = torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU(inplace=True)

        def image_side(self, I, q):
            return torch.tanh(self.relu(self.conv(I)).mean((2, 3)) + q.mean(1).sum(1, keepdim=True))

        def question_side(self, q):
            return torch.tanh(self.words(q.mean(1)))

    torch.manual_seed(0)
    namespace = {"net": Net().train(), "images": torch.rand(2, 3, 8, 8), "ids": torch.tensor([[1, 2, 3], [4, 5, 0]]),
                 "lengths": [3, 2]}
    exec(code, namespace)
    r = namespace["r"]
    assert not namespace["net"].training and r.grad_v.shape == (2, 3, 8, 8) and r.grad_q.shape == (2, 3, 4)
    assert r.pixel_map.shape == (2, 3, 8, 8) and [len(z) for z in r.token_z] == [3, 2]
    assert torch.count_nonzero(r.grad_v) > 0 and torch.count_nonzero(r.grad_q) > 0
