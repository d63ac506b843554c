"""The explanation (eq. 2-3, 9-11) on a small random float64 model: central differences for plain gradients,
a PyTorch reference with guided ReLUs, the fix_f ablation, the sign option, post-processing by hand."""
import json

import numpy
import pytest
from references import tiny_float64_model

from hadamard_min import Tensor, no_grad
from hadamard_min.data.text import QuestionError
from hadamard_min.explain.methods import explain, explain_batch
from hadamard_min.explain.postprocess import (
    gradient_heatmap,
    normalise_pixel_map,
    token_scores,
    token_z_scores,
)
from hadamard_min.oracle.torch_models import closed_form_relu

WORDS = ["what", "color", "is", "the", "shape", "circle", "there", "a"]
ANSWERS = ["red", "blue", "green", "yes", "no", "circle"]
CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 16, "word_dim": 4, "question_dim": 5,
          "joint_dim": 3, "glimpses": 2, "max_length": 6}
QUESTION = "What color is the circle?"
IMAGE = numpy.random.default_rng(7).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)


@pytest.fixture(scope="module")
def model():
    """Random weights in float64, batch norms with non-trivial statistics."""
    return tiny_float64_model(CONFIG, WORDS, ANSWERS)


def base_point(model, question=QUESTION):
    """I (3, H, W), the word vectors q (T, D), lengths, and the forward output there (no graph)."""
    ids, lengths = model.encode_questions([question])
    image = model.prepare_image(IMAGE)[1]
    words = model.encoder.embed(ids).data[0]
    return image, words, lengths, forward(model, image, words, lengths)


def forward(model, image, words, lengths):
    with no_grad():
        return model.forward_words(Tensor(image[None]), Tensor(words[None]), lengths)


def central_difference(loss, x, direction, h=1e-6):
    return (loss(x + h * direction) - loss(x - h * direction)) / (2 * h)


def test_plain_gradients_equal_central_differences_of_the_deviation_losses(model):
    """guided=False: ∇v = ∂/∂I ½‖V − F₀‖² and ∇q = ∂/∂q ½‖Q − F₀‖², F₀ frozen at the base point."""
    e = explain(model, IMAGE, QUESTION, guided=False)
    image, words, lengths, out = base_point(model)
    F0 = out.F.data
    rho = len(e.tokens)

    def loss_v(x):
        return 0.5 * ((forward(model, x, words, lengths).V.data - F0) ** 2).sum()

    def loss_q(x):
        return 0.5 * ((forward(model, image, x, lengths).Q.data - F0) ** 2).sum()

    rng = numpy.random.default_rng(0)
    for _ in range(8):
        d = rng.standard_normal(image.shape)
        numpy.testing.assert_allclose((e.grad_v * d).sum(), central_difference(loss_v, image, d), rtol=1e-6)
    numeric_q = numpy.zeros((rho, words.shape[1]))
    for i in range(rho):
        for k in range(words.shape[1]):
            unit = numpy.zeros_like(words)
            unit[i, k] = 1
            numeric_q[i, k] = central_difference(loss_q, words, unit)
    assert e.grad_q.shape == (rho, CONFIG["word_dim"])
    numpy.testing.assert_allclose(e.grad_q, numeric_q, rtol=1e-6, atol=1e-12)


def test_unfixed_f_word_gradient_is_the_whole_loss_gradient(model):
    """fix_f=False: ∇q = ∂/∂q ½‖Q − Q∘V‖² with F live (V depends on q through the attention too)."""
    e = explain(model, IMAGE, QUESTION, fix_f=False, guided=False)
    image, words, lengths, _ = base_point(model)

    def loss_q(x):
        out = forward(model, image, x, lengths)
        return 0.5 * ((out.Q.data - out.Q.data * out.V.data) ** 2).sum()

    rng = numpy.random.default_rng(1)
    for _ in range(6):
        d = numpy.zeros_like(words)
        d[: len(e.tokens)] = rng.standard_normal((len(e.tokens), words.shape[1]))
        got = (e.grad_q * d[: len(e.tokens)]).sum()
        numpy.testing.assert_allclose(got, central_difference(loss_q, words, d), rtol=1e-6)


def test_derivative_of_the_deviation_loss_at_v(rng):
    """∂L/∂V for L = ½‖V − F‖², F = Q∘V: V − F with F fixed, (V − F)∘(1 − Q) with F live (by hand)."""
    Q, V = rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 6)
    for fix_f, expected in ((True, V - Q * V), (False, (V - Q * V) * (1 - Q))):
        v = Tensor(V, requires_grad=True)
        F = Tensor(Q) * v
        target = F.detach() if fix_f else F
        (0.5 * ((v - target) ** 2).sum()).backward()
        numpy.testing.assert_allclose(v.grad, expected, rtol=1e-14)


def test_unfixed_f_image_gradient_carries_the_ablation_seed(model):
    """fix_f=False, plain gradients: ∇v = ((V − F)∘(1 − Q)) ∂V/∂I, the seed computed by hand at V."""
    e = explain(model, IMAGE, QUESTION, fix_f=False, guided=False)
    image, words, lengths, _ = base_point(model)
    with model.frozen():
        leaf = Tensor(image[None], requires_grad=True)
        out = model.forward_words(leaf, Tensor(words[None]), lengths)
        V, Q, F = out.V.data, out.Q.data, out.F.data
        out.V.backward((V - F) * (1 - Q))
    numpy.testing.assert_allclose(e.grad_v, leaf.grad[0], rtol=1e-10, atol=1e-14)
    fixed = explain(model, IMAGE, QUESTION, fix_f=True, guided=False)
    assert not numpy.allclose(fixed.grad_v, e.grad_v)


def test_code_sign_negates_plain_gradients_exactly(model):
    paper = explain(model, IMAGE, QUESTION, guided=False)
    code = explain(model, IMAGE, QUESTION, guided=False, sign="code")
    numpy.testing.assert_array_equal(code.grad_v, -paper.grad_v)
    numpy.testing.assert_array_equal(code.grad_q, -paper.grad_q)
    numpy.testing.assert_array_equal(code.token_z, paper.token_z)


# --------------------------------------------------------------------------- a PyTorch reference
def torch_v(torch, model, image, question_vector, relu):
    """V (eq. 6) of the same network written with torch.nn.functional and the model's weights."""
    fn = torch.nn.functional
    w = {name: torch.from_numpy(numpy.asarray(value)) for name, value in model.state_dict().items()}

    def conv_bn(x, conv, bn, stride=1, padding=0):
        x = fn.conv2d(x, w[conv + ".weight"], stride=stride, padding=padding)
        return fn.batch_norm(x, w[bn + ".running_mean"], w[bn + ".running_var"], w[bn + ".weight"],
                             w[bn + ".bias"], False, 0.0, 1e-5)

    x = fn.max_pool2d(relu(conv_bn(image, "backbone.conv1", "backbone.bn1", 2, 3)), 3, 2, 1)
    blocks = [(s, j) for s, n in enumerate(CONFIG["backbone"]["layers"], 1) for j in range(n)]
    for k, (stage, j) in enumerate(blocks):
        p, stride = f"backbone.layer{stage}.{j}", 2 if stage > 1 and j == 0 else 1
        out = relu(conv_bn(x, p + ".conv1", p + ".bn1"))
        out = relu(conv_bn(out, p + ".conv2", p + ".bn2", stride, 1))
        out = conv_bn(out, p + ".conv3", p + ".bn3")
        if p + ".downsample.0.weight" in w:
            x = conv_bn(x, p + ".downsample.0", p + ".downsample.1", stride)
        x = out + x if k == len(blocks) - 1 else relu(out + x)    # pre-ReLU features at the end

    def linear(v, name):
        return v @ w[f"mlb.{name}.weight"].T + w[f"mlb.{name}.bias"]

    # torch 2.13 (CPU, float64) returns a wrong input gradient from a 1×1 stride-2 conv whose incoming
    # gradient has strides (32, 1, 64, 32), as the downsample conv gets here: make it contiguous.
    x.register_hook(lambda grad: grad.contiguous())
    grid = x.flatten(2).transpose(1, 2)
    q = torch.from_numpy(question_vector)
    joint = torch.tanh(linear(grid, "conv_v_att")) * torch.tanh(linear(q, "linear_q_att"))[:, None]
    alpha = torch.softmax(linear(joint, "conv_att"), dim=1).transpose(1, 2)
    attended = alpha @ grid
    return torch.cat([torch.tanh(linear(attended[:, g], f"list_linear_v_fusion.{g}"))
                      for g in range(CONFIG["glimpses"])], dim=1)


@pytest.mark.parametrize("fix_f", [True, False])
@pytest.mark.parametrize("sign", ["paper", "code"])
@pytest.mark.parametrize("guided", [True, False])
def test_image_gradient_equals_torch_reference(torch, model, fix_f, sign, guided):
    """The seed pushed into V, computed by hand, carried back through torch with (guided) ReLUs."""
    e = explain(model, IMAGE, QUESTION, fix_f=fix_f, sign=sign, guided=guided)
    image, _, _, out = base_point(model)
    V, Q, F = out.V.data, out.Q.data, out.F.data
    seed = (V - F) if fix_f else (V - F) * (1 - Q)
    seed = seed if sign == "paper" else -seed
    leaf = torch.tensor(image[None], requires_grad=True)
    relu = closed_form_relu(torch) if guided else torch.relu
    v = torch_v(torch, model, leaf, out.question.data, relu)
    numpy.testing.assert_allclose(v.detach().numpy(), V, rtol=1e-10, atol=1e-13)
    v.backward(torch.from_numpy(seed))
    expected = leaf.grad.numpy()[0]
    numpy.testing.assert_allclose(e.grad_v, expected, rtol=1e-8, atol=1e-12 * numpy.abs(expected).max())


def test_guided_code_sign_is_not_the_negated_paper_map(model):
    paper = explain(model, IMAGE, QUESTION)
    code = explain(model, IMAGE, QUESTION, sign="code")
    plain = explain(model, IMAGE, QUESTION, guided=False)
    assert not numpy.allclose(code.grad_v, -paper.grad_v)
    assert not numpy.allclose(paper.grad_v, plain.grad_v)
    numpy.testing.assert_array_equal(code.grad_q, -paper.grad_q)  # no ReLU on the question side


# --------------------------------------------------------------------------- the result object
def test_batch_equals_one_at_a_time_and_the_model_is_restored(model):
    other = IMAGE[::-1].copy()
    questions = [QUESTION, "is there a shape"]
    model.mlb.linear_classif.bias.requires_grad = False
    batch = explain_batch(model, [IMAGE, other], questions, top_k=3)
    for e, image, question in zip(batch, [IMAGE, other], questions):
        alone = explain(model, image, question, top_k=3)
        numpy.testing.assert_allclose(e.grad_v, alone.grad_v, rtol=1e-10, atol=1e-14)
        numpy.testing.assert_allclose(e.grad_q, alone.grad_q, rtol=1e-10, atol=1e-14)
        assert [a for a, _ in e.top_k] == [a for a, _ in alone.top_k] and e.answer == alone.answer
        numpy.testing.assert_allclose([p for _, p in e.top_k], [p for _, p in alone.top_k], rtol=1e-12)
    assert not model.mlb.linear_classif.bias.requires_grad
    model.mlb.linear_classif.bias.requires_grad = True
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not model.training and not model.is_frozen
    assert all(getattr(m, "inference_form", None) is None for _, m in model.named_modules())


def test_explanation_fields_and_json(model):
    e = explain(model, IMAGE, QUESTION, top_k=4)
    assert e.tokens == ["what", "color", "is", "the", "circle"] and e.unknown_words == []
    assert e.grad_v.shape == e.pixel_map.shape == (3, 16, 16) and e.heatmap.shape == (16, 16)
    assert e.alpha.shape == (2, 2, 2) and e.image.shape == (16, 16, 3) and e.image.dtype == numpy.uint8
    assert e.token_scores.shape == e.token_z.shape == (5,) and len(e.top_k) == 4
    assert e.answer == e.top_k[0][0] and e.probability == e.top_k[0][1]
    assert [p for _, p in e.top_k] == sorted((p for _, p in e.top_k), reverse=True)
    numpy.testing.assert_allclose(e.alpha.sum(axis=(1, 2)), 1.0, rtol=1e-12)
    data = json.loads(json.dumps(e.to_json()))
    assert data["options"] == {"fix_f": True, "sign": "paper", "guided": True, "top_k": 4}
    assert data["token_z"] == pytest.approx(list(e.token_z))


def test_unknown_words_are_read_as_unk_and_listed(model):
    e = explain(model, IMAGE, "What colour is the blob?")
    assert e.tokens == ["what", "colour", "is", "the", "blob"] and e.unknown_words == ["colour", "blob"]
    assert e.token_scores.shape == (5,)


@pytest.mark.parametrize("question", ["", "   ", "?!...", "what is the color of the circle there"])
def test_bad_questions_raise_one_clear_line(model, question):
    with pytest.raises(QuestionError) as error:
        explain(model, IMAGE, question)
    assert "\n" not in str(error.value) and len(str(error.value)) > 20


def test_bad_options_are_refused(model):
    with pytest.raises(ValueError, match="sign"):
        explain(model, IMAGE, QUESTION, sign="negative")
    with pytest.raises(ValueError, match="one image per question"):
        explain_batch(model, [IMAGE], [QUESTION, QUESTION])
    with pytest.raises(ValueError, match="top_k"):
        explain(model, IMAGE, QUESTION, top_k=0)


# --------------------------------------------------------------------------- eq. 9-11 by hand
def test_eq9_standardises_with_the_statistics_of_the_whole_gradient():
    grad = numpy.array([[[1.0, 1.0]], [[3.0, 3.0]], [[1.0, 3.0]]])   # μ = 2, σ = 1 over all six values
    expected = numpy.array([[[-1.0, -1.0]], [[1.0, 1.0]], [[-1.0, 1.0]]])
    numpy.testing.assert_allclose(normalise_pixel_map(grad), expected, rtol=1e-15)
    numpy.testing.assert_array_equal(normalise_pixel_map(numpy.zeros((3, 2, 2))), numpy.zeros((3, 2, 2)))


def test_gradient_heatmap():
    grad = numpy.array([[[1.0, -2.0]], [[0.0, 2.0]], [[-1.0, 0.0]]])    # Σ_c |∇v| = [2, 4]
    numpy.testing.assert_allclose(gradient_heatmap(grad), [[0.5, 1.0]], rtol=1e-15)


def test_eq10_and_eq11_by_hand():
    grad_q = numpy.array([[1.0, -2.0, 0.0], [0.5, 0.5, -1.0], [-4.0, 0.0, 0.0]])
    scores = token_scores(grad_q)                                       # Σ_d |∇q(i,d)|
    numpy.testing.assert_allclose(scores, [3.0, 2.0, 4.0], rtol=1e-15)
    # μ = 3, σ = √(2/3)
    numpy.testing.assert_allclose(token_z_scores(scores), numpy.array([0.0, -1.0, 1.0]) / numpy.sqrt(2 / 3),
                                  rtol=1e-14)
    numpy.testing.assert_array_equal(token_z_scores([2.5, 2.5]), [0.0, 0.0])
    numpy.testing.assert_array_equal(token_z_scores([7.0]), [0.0])


def test_equal_non_zero_values_stand_out_nowhere():
    # [0.1, 0.1, 0.1] has σ = 1.4e-17 in floating point, not 0: an exact test would give z = −1 for each
    assert numpy.std([0.1, 0.1, 0.1]) > 0
    numpy.testing.assert_array_equal(token_z_scores([0.1, 0.1, 0.1]), [0.0, 0.0, 0.0])
    numpy.testing.assert_array_equal(normalise_pixel_map(numpy.full((3, 4, 5), 0.1)), numpy.zeros((3, 4, 5)))
    numpy.testing.assert_array_equal(token_z_scores(numpy.full(7, -3.3e-5)), numpy.zeros(7))
    # a real spread as small as one float32 step still counts
    near = numpy.float32(0.1)
    scores = [float(near), float(numpy.nextafter(near, numpy.float32(1))), float(near)]
    numpy.testing.assert_allclose(token_z_scores(scores), [-1 / numpy.sqrt(2), numpy.sqrt(2), -1 / numpy.sqrt(2)],
                                  rtol=1e-6)
