"""MLB (eq. 4-8) against an einsum transcription of the paper, its invariants, dropout, and the VQA model
that wires ResNet features, the question encoder and MLB together."""
import json

import numpy
import pytest

from hadamard_min import Tensor, no_grad
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.data.text import QuestionError, Vocabulary
from hadamard_min.models.mlb import MLB
from hadamard_min.models.vqa import ModelConfigError, build_vqa_model
from hadamard_min.nn.layers import Conv2d

N, M, J, A, G, K, S = 6, 5, 4, 3, 2, 7, 3


def float64_mlb(**options):
    mlb = MLB(N, M, J, G, K, attention_dim=A, rng=numpy.random.default_rng(3), **options)
    return mlb.astype(numpy.float64).eval()


def inputs(rng, batch=2):
    return rng.standard_normal((batch, N)), rng.standard_normal((batch, M, S, S))


def reference(mlb, q, features, tanh_after_attention=False, tanh_before_classifier=False):
    """eq. 4-7 written with einsum over the parameters (W, b of each linear map)."""
    w = {name: p.data for name, p in mlb.named_parameters()}
    grid = features.reshape(len(q), M, S * S).transpose(0, 2, 1)                         # F (B, S², M)
    q_att = numpy.tanh(numpy.einsum("bn,an->ba", q, w["linear_q_att.weight"]) + w["linear_q_att.bias"])
    v_att = numpy.tanh(numpy.einsum("bsm,am->bsa", grid, w["conv_v_att.weight"]) + w["conv_v_att.bias"])
    joint = v_att * q_att[:, None, :]
    joint = numpy.tanh(joint) if tanh_after_attention else joint
    scores = numpy.einsum("bsa,ga->bgs", joint, w["conv_att.weight"]) + w["conv_att.bias"][:, None]
    alpha = numpy.exp(scores) / numpy.exp(scores).sum(axis=2, keepdims=True)             # eq. 4
    attended = numpy.einsum("bgs,bsm->bgm", alpha, grid)                                   # eq. 5
    V = numpy.concatenate([numpy.tanh(attended[:, g] @ w[f"list_linear_v_fusion.{g}.weight"].T
                                      + w[f"list_linear_v_fusion.{g}.bias"]) for g in range(G)], axis=1)
    Q = numpy.tanh(q @ w["linear_q_fusion.weight"].T + w["linear_q_fusion.bias"])          # eq. 6
    F = Q * V
    joint = numpy.tanh(F) if tanh_before_classifier else F
    logits = joint @ w["linear_classif.weight"].T + w["linear_classif.bias"]              # eq. 7
    return alpha.reshape(len(q), G, S, S), Q, V, F, logits


@pytest.mark.parametrize("options", [{}, {"tanh_after_attention": True, "tanh_before_classifier": True}])
def test_forward_matches_eq_4_to_7(options, rng):
    mlb = float64_mlb(**options)
    q, features = inputs(rng)
    out = mlb(Tensor(q), Tensor(features))
    for name, got, expected in zip("alpha Q V F logits".split(), (out.alpha, out.Q, out.V, out.F, out.logits),
                                   reference(mlb, q, features, **options)):
        numpy.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-14, err_msg=name)


def test_shapes_attention_sums_to_one_and_f_is_q_times_v(rng):
    mlb = float64_mlb()
    out = mlb(*map(Tensor, inputs(rng, batch=3)))
    assert out.alpha.shape == (3, G, S, S) and out.attended.shape == (3, G, M)
    assert out.Q.shape == out.V.shape == out.F.shape == (3, G * J) and out.logits.shape == (3, K)
    numpy.testing.assert_allclose(out.alpha.data.sum(axis=(2, 3)), numpy.ones((3, G)), rtol=1e-14)
    assert numpy.all(out.alpha.data > 0)
    numpy.testing.assert_array_equal(out.F.data, out.Q.data * out.V.data)


def test_parameter_names_follow_vqa_pytorch():
    names = [name for name, _ in float64_mlb().named_parameters()]
    stems = sorted({name.rsplit(".", 1)[0] for name in names})
    assert stems == sorted(["linear_q_att", "conv_v_att", "conv_att", "list_linear_v_fusion.0",
                            "list_linear_v_fusion.1", "linear_q_fusion", "linear_classif"])
    weights = dict(float64_mlb().named_parameters())
    assert weights["conv_v_att.weight"].shape == (A, M)
    assert weights["linear_q_fusion.weight"].shape == (G * J, N)


def test_dropout_only_in_training(rng):
    mlb = float64_mlb(dropout=0.5)
    q, features = map(Tensor, inputs(rng))
    evaluated = [mlb(q, features).logits.data for _ in range(2)]
    numpy.testing.assert_array_equal(evaluated[0], evaluated[1])
    mlb.train()
    trained = [mlb(q, features).logits.data for _ in range(2)]
    assert not numpy.allclose(trained[0], trained[1]) and not numpy.allclose(trained[0], evaluated[0])
    no_dropout = float64_mlb(dropout=0.0).train()
    numpy.testing.assert_array_equal(no_dropout(q, features).logits.data, evaluated[0])


def test_gradients_against_central_differences(rng):
    mlb = float64_mlb(tanh_after_attention=True)

    def run(q, features):
        out = mlb(q, features)
        return out.logits.sum() + (out.F * out.F).sum() + (out.alpha * out.alpha).sum()

    gradcheck(run, *inputs(rng))


# --------------------------------------------------------------------------- the VQA model
WORDS = ["what", "color", "is", "the", "shape", "circle"]
ANSWERS = ["red", "blue", "green", "yes", "no"]
CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 16, "word_dim": 5, "question_dim": 6,
          "joint_dim": 4, "glimpses": 2, "max_length": 6, "dropout": 0.5}


def tiny_model(**changes):
    return build_vqa_model({**CONFIG, **changes}, Vocabulary(WORDS), ANSWERS).eval()


def test_vqa_forward_shapes_and_image_index(rng):
    model = tiny_model()
    ids, lengths = model.encode_questions(["what color is the circle", "is it red", "what shape"])
    images = rng.standard_normal((2, 3, 16, 16)).astype(numpy.float32)
    with no_grad():
        shared = model(images, ids, lengths, image_index=numpy.array([1, 0, 1]))
        repeated = model(images[[1, 0, 1]], ids, lengths)
    assert shared.features.shape == (3, 32, 2, 2) and shared.word_vectors.shape == (3, 6, 5)
    assert shared.alpha.shape == (3, 2, 2, 2) and shared.logits.shape == (3, len(ANSWERS))
    numpy.testing.assert_allclose(shared.logits.data, repeated.logits.data, rtol=1e-6, atol=1e-6)
    numpy.testing.assert_allclose(shared.probabilities().sum(axis=1), 1.0, rtol=1e-12)


def test_config_round_trip(rng):
    model = tiny_model(candidate="reset_before", tanh_before_classifier=True)
    config = json.loads(json.dumps(model.config()))
    rebuilt = build_vqa_model(config, model.vocab.to_list(), ANSWERS, rng=numpy.random.default_rng(9)).eval()
    assert rebuilt.config() == model.config()
    rebuilt.load_state_dict(model.state_dict())
    ids, lengths = model.encode_questions(["what is the shape"])
    images = rng.standard_normal((1, 3, 16, 16))
    with no_grad():
        numpy.testing.assert_array_equal(rebuilt(images, ids, lengths).logits.data,
                                         model(images, ids, lengths).logits.data)


def test_bad_configs_say_what_is_wrong():
    with pytest.raises(ModelConfigError, match="joint_dim"):
        build_vqa_model({k: v for k, v in CONFIG.items() if k != "joint_dim"}, Vocabulary(WORDS), ANSWERS)
    with pytest.raises(ModelConfigError, match="num_answers = 9"):
        build_vqa_model({**CONFIG, "num_answers": 9}, Vocabulary(WORDS), ANSWERS)


def test_encode_questions_and_prepare_image():
    model = tiny_model()
    ids, lengths = model.encode_questions(["What colour is the circle?"])
    assert ids.shape == (1, 6) and lengths.tolist() == [5] and ids[0, 1] == 1 and ids[0, 5] == 0
    with pytest.raises(QuestionError):
        model.encode_questions(["what is the shape of the circle"])
    pixels, x = model.prepare_image(numpy.zeros((20, 30, 3), dtype=numpy.uint8))
    assert pixels.shape == (16, 16, 3) and pixels.dtype == numpy.uint8
    assert x.shape == (3, 16, 16) and x.dtype == model.dtype
    cropped = tiny_model(crop=True)
    wide = numpy.zeros((16, 32, 3), dtype=numpy.uint8)
    wide[:, 8:24] = 255                      # the centre square is white, the sides black
    assert cropped.prepare_image(wide)[0].min() == 255 and model.prepare_image(wide)[0].min() == 0


def inference_forms(model):
    return [m.inference_form for _, m in model.named_modules() if getattr(m, "inference_form", None) is not None]


@pytest.mark.parametrize("change", ["train", "unfreeze", "load"])
def test_training_unfreezing_and_loading_drop_the_inference_forms(change):
    """The fast path keeps folded copies of a frozen model's weights; anything that may change them drops them."""
    model = tiny_model().freeze()
    image = numpy.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(numpy.float32)
    with no_grad():
        model.backbone.features(Tensor(image))
    convolutions = [m for _, m in model.backbone.named_modules() if isinstance(m, Conv2d)]
    assert model.is_frozen and len(inference_forms(model)) == len(convolutions) > 0
    {"train": model.train, "unfreeze": lambda: model.requires_grad_(True),
     "load": lambda: model.load_state_dict(model.state_dict())}[change]()
    assert inference_forms(model) == []
    assert model.is_frozen == (change == "load")
