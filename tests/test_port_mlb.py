"""Ports of the published MLB models, each tested on a fixture written here in the documented layout."""
import json
import pickle
import re

import easy_vqa
import numpy
import pytest
from PIL import Image
from port_references import (
    rnn_gru_module,
    rnn_gru_states,
    torch7_mlb_logits,
    torch7_order,
    unflatten,
    vqa_pytorch_mlb,
)
from t7_writer import write_t7

from hadamard_min.cli.explain import main as explain_main
from hadamard_min.core.tensor import Tensor
from hadamard_min.data.text import tokenize
from hadamard_min.io.porting import (
    PortError,
    PresetFilesError,
    TorchObject,
    build_preset,
    mlb_t7_layout,
    port_torch7_mlb,
    port_torch7_question_encoder,
    port_vqa_pytorch,
)
from hadamard_min.io.weights import save_weights
from hadamard_min.models.resnet import ResNet
from hadamard_min.models.vqa import build_vqa_model

WORDS = ["what", "color", "is", "UNK", "the", "shape", "how", "many"]   # UNK inside: rows must move
ANSWERS = ["red", "blue", "circle", "2", "yes"]
QUESTIONS = ["What color is the zebra?", "how many shape"]              # "zebra" is unknown


def relative_error(ours, reference):
    return float(numpy.abs(ours - reference).max() / numpy.abs(reference).max())


def published_ids(questions, length, right_aligned=False):
    """Word ids as the published code made them (1-based list order, unknown → UNK), padded with 0."""
    ids = numpy.zeros((len(questions), length), dtype=numpy.int64)
    for row, question in enumerate(questions):
        tokens = [WORDS.index(t) + 1 if t in WORDS else WORDS.index("UNK") + 1 for t in tokenize(question)]
        start = length - len(tokens) if right_aligned else 0
        ids[row, start:start + len(tokens)] = tokens
    return ids


def ported_logits(ported, features, questions):
    """Logits of our encoder + MLB with the ported arrays, on given features (no ResNet involved)."""
    backbone = {"layers": [1], "width": ported.config["visual_dim"] // 4}   # 4·width channels
    config = {"backbone": backbone, "image_size": 32, **ported.config}
    model = build_vqa_model(config, ported.vocab, ported.answers).eval()
    model.encoder.load_state_dict({k[8:]: v for k, v in ported.state.items() if k.startswith("encoder.")})
    model.mlb.load_state_dict({k[4:]: v for k, v in ported.state.items() if k.startswith("mlb.")})
    ids, lengths = model.encode_questions(questions)
    question, _ = model.encoder(ids, lengths)
    return model.mlb(question, Tensor(features)).logits.data


# ----------------------------------------------------------------------------------- vqa.pytorch
SIZES = {"V": len(WORDS), "D": 6, "N": 10, "M": 12, "A": 7, "G": 3, "J": 5, "K": len(ANSWERS)}


def vqa_pytorch_files(torch, folder, M=SIZES["M"]):
    """A vqa.pytorch checkpoint (G = 3 glimpses, A ≠ J), word_to_wid.pickle and aid_to_ans.pickle."""
    torch.manual_seed(0)
    reference = vqa_pytorch_mlb(torch, **{**SIZES, "M": M})
    torch.save(reference.state_dict(), folder / "mlb_att.pth")
    (folder / "word_to_wid.pickle").write_bytes(pickle.dumps({w: i + 1 for i, w in enumerate(WORDS)}))
    (folder / "aid_to_ans.pickle").write_bytes(pickle.dumps(dict(enumerate(ANSWERS))))
    return reference, folder / "mlb_att.pth", folder / "word_to_wid.pickle", folder / "aid_to_ans.pickle"


def test_vqa_pytorch_port_matches_its_reference_forward(torch, tmp_path, rng):
    reference, pth, words, answers = vqa_pytorch_files(torch, tmp_path)
    ported = port_vqa_pytorch(pth, words, answers)
    assert ported.config["glimpses"] == 3 and ported.config["attention_dim"] == 7
    assert ported.config["candidate"] == "reset_after" and ported.config["pre_relu"] is False
    features = rng.standard_normal((2, SIZES["M"], 3, 3)).astype(numpy.float32)
    with torch.no_grad():
        ids = torch.from_numpy(published_ids(QUESTIONS, 6))
        expected = reference(torch.from_numpy(features), ids).numpy()
    assert relative_error(ported_logits(ported, features, QUESTIONS), expected) <= 1e-4


def vqa_pytorch_arrays(rng, sizes=SIZES, **changes):
    """The checkpoint's arrays (random, in the documented layout) without torch, as an .npz holds them."""
    V, D, N, M, A, G, J, K = sizes.values()
    shapes = {"seq2vec.embedding.weight": (V + 1, D), "conv_v_att.weight": (A, M, 1, 1),
              "conv_v_att.bias": (A,),
              "linear_q_att.weight": (A, N), "linear_q_att.bias": (A,), "conv_att.weight": (G, A, 1, 1),
              "conv_att.bias": (G,), "linear_q_fusion.weight": (G * J, N), "linear_q_fusion.bias": (G * J,),
              "linear_classif.weight": (K, G * J), "linear_classif.bias": (K,)}
    for gate in "rin":
        shapes.update({f"seq2vec.rnn.gru_cell.weight_i{gate}.weight": (N, D),
                       f"seq2vec.rnn.gru_cell.weight_i{gate}.bias": (N,),
                       f"seq2vec.rnn.gru_cell.weight_h{gate}.weight": (N, N)})
    for g in range(G):
        shapes.update({f"list_linear_v_fusion.{g}.weight": (J, M), f"list_linear_v_fusion.{g}.bias": (J,)})
    shapes.update(changes)
    return {name: rng.standard_normal(shape).astype(numpy.float32) for name, shape in shapes.items() if shape}


@pytest.mark.parametrize("changes, message", [
    ({"linear_q_fusion.weight": (14, 10)}, "linear_q_fusion.weight: expected (15, 10), found (14, 10)"),
    ({"conv_att.weight": (3, 7)}, "conv_att.weight: expected (3, 7, 1, 1), found (3, 7)"),
    ({"seq2vec.rnn.gru_cell.weight_hn.weight": None}, "missing seq2vec.rnn.gru_cell.weight_hn.weight"),
    ({"list_linear_v_fusion.3.weight": (5, 12)}, "unexpected list_linear_v_fusion.3.weight"),
])
def test_vqa_pytorch_file_of_another_layout_is_refused(tmp_path, rng, changes, message):
    save_weights(tmp_path / "bad.npz", vqa_pytorch_arrays(rng, **changes))
    (tmp_path / "words.txt").write_text("\n".join(WORDS))
    (tmp_path / "answers.txt").write_text("\n".join(ANSWERS))
    with pytest.raises(PortError, match="does not have the documented layout") as error:
        port_vqa_pytorch(tmp_path / "bad.npz", tmp_path / "words.txt", tmp_path / "answers.txt")
    assert message in str(error.value)


def test_vqa_pytorch_file_of_complex_weights_is_refused(tmp_path, rng):
    """Cast to float32, a complex array would lose its imaginary part with a ComplexWarning as the only sign."""
    arrays = vqa_pytorch_arrays(rng)
    arrays["linear_classif.weight"] = arrays["linear_classif.weight"] * (1 + 1j)
    save_weights(tmp_path / "complex.npz", arrays)
    (tmp_path / "words.txt").write_text("\n".join(WORDS))
    (tmp_path / "answers.txt").write_text("\n".join(ANSWERS))
    with pytest.raises(PortError, match=r"complex-valued linear_classif\.weight"):
        port_vqa_pytorch(tmp_path / "complex.npz", tmp_path / "words.txt", tmp_path / "answers.txt")


def test_vqa_pytorch_vocabulary_of_another_size_is_refused(tmp_path, rng):
    save_weights(tmp_path / "mlb.npz", vqa_pytorch_arrays(rng))
    (tmp_path / "words.txt").write_text("\n".join(WORDS[:-1]))
    (tmp_path / "answers.txt").write_text("\n".join(ANSWERS))
    with pytest.raises(PortError, match=r"lists 7 words but the word table .* has 9 rows"):
        port_vqa_pytorch(tmp_path / "mlb.npz", tmp_path / "words.txt", tmp_path / "answers.txt")


# ----------------------------------------------------------------------------------- Torch7 MLB
T7 = {"V": len(WORDS), "D": 5, "N": 6, "M": 64, "C": 4, "G": 2, "K": len(ANSWERS)}
SMALL_T7 = {"word_dim": 5, "question_dim": 6, "joint_dim": 4, "glimpses": 2}


def torch7_files(folder, rng, missing=0):
    """MLB.t7 (a flat CudaTensor in the documented order) and data_prepro.json (1-based ix_to_*)."""
    order = torch7_order(**T7)
    size = sum(int(numpy.prod(shape)) for _, shape in order) - missing
    vector = (rng.standard_normal(size) * 0.5).astype("float32")
    write_t7(folder / "MLB.t7", vector, cuda=True)
    prepro = {"ix_to_word": {str(i + 1): w for i, w in enumerate(WORDS)},
              "ix_to_ans": {str(i + 1): a for i, a in enumerate(ANSWERS)}, "unique_img_test": ["x.jpg"]}
    (folder / "data_prepro.json").write_text(json.dumps(prepro))
    return vector, folder / "MLB.t7", folder / "data_prepro.json"


def test_torch7_mlb_port_matches_the_lua_model(tmp_path, rng):
    vector, t7, prepro = torch7_files(tmp_path, rng)
    ported = port_torch7_mlb(t7, prepro, visual_dim=T7["M"], **SMALL_T7)
    assert ported.answers == ANSWERS and ported.config["candidate"] == "reset_before"
    assert ported.config["pre_relu"] is True and not ported.config["tanh_before_classifier"]
    features = rng.standard_normal((2, T7["M"], 3, 3)).astype(numpy.float32)
    params = unflatten(vector, torch7_order(**T7))
    expected = torch7_mlb_logits(params, published_ids(QUESTIONS, 26, right_aligned=True), features)
    assert relative_error(ported_logits(ported, features, QUESTIONS), expected) <= 1e-4


def test_torch7_layout_lists_every_parameter_once():
    layout = mlb_t7_layout(num_words=3, num_answers=4, visual_dim=8, **SMALL_T7)
    names = [name for name, _ in layout]
    assert len(names) == len(set(names)) == 1 + 9 + 2 * (5 + SMALL_T7["glimpses"])
    assert names.index("mlb.linear_q_fusion.weight") < names.index("mlb.list_linear_v_fusion.0.weight")


def test_torch7_vector_of_another_length_is_refused_naming_both_numbers(tmp_path, rng):
    vector, t7, prepro = torch7_files(tmp_path, rng, missing=1)
    with pytest.raises(PortError) as error:
        port_torch7_mlb(t7, prepro, visual_dim=T7["M"], **SMALL_T7)
    numbers = f"holds {vector.size:,} parameters but the configured sizes need {vector.size + 1:,}"
    assert numbers in str(error.value)


@pytest.mark.parametrize("bayesian", [False, True])
def test_torch7_skipthoughts_start_lookup_and_gru(tmp_path, rng, bayesian):
    D, N = 5, 6
    table = rng.standard_normal((len(WORDS) + 1, D)).astype("float32")
    table[0] = 0
    lookup = TorchObject("nn.LookupTableMaskZero", {"weight": table, "paddingValue": 0.0})
    write_t7(tmp_path / "lookup_2k.t7", lookup)
    p = {name: rng.standard_normal(shape) * 0.5 for name, shape in torch7_order(1, D, N, 1, 1, 1, 1)[1:10]}
    params = ([p[k] for k in ("W_r", "b_r", "W_z", "b_z", "U_r", "U_z", "W_x", "b_x", "U_x")] if bayesian else
              [numpy.concatenate([p["W_r"], p["W_z"]]), numpy.concatenate([p["b_r"], p["b_z"]]),
               numpy.concatenate([p["U_r"], p["U_z"]]), p["W_x"], p["b_x"], p["U_x"]])
    write_t7(tmp_path / "gru.t7", rnn_gru_module([q.astype("float32") for q in params], bayesian))
    ix_to_word = {str(i + 1): w for i, w in enumerate(WORDS)}
    (tmp_path / "vocab.json").write_text(json.dumps({"ix_to_word": ix_to_word}))
    encoder, vocab = port_torch7_question_encoder(tmp_path / "lookup_2k.t7", tmp_path / "gru.t7",
                                                  tmp_path / "vocab.json")
    assert encoder.config()["candidate"] == "reset_before"
    ids = published_ids(QUESTIONS, 8, right_aligned=True)
    expected = rnn_gru_states(p, table[ids].astype(numpy.float64), ids)
    ours_ids = numpy.stack([vocab.encode(tokenize(q), 8)[0] for q in QUESTIONS])
    ours = encoder(ours_ids, [len(tokenize(q)) for q in QUESTIONS])[0].data
    assert relative_error(ours, expected) <= 1e-4


# ----------------------------------------------------------------------------------- ResNet files
def resnet_arrays(rng):
    """A small bottleneck ResNet's state (64 output channels, fast at 448) with non-trivial statistics."""
    state = ResNet((1, 1, 1, 1), width=2, num_classes=3, rng=rng).state_dict()
    for name in state:
        if name.endswith(("running_mean", "running_var", "bn1.bias", "bn2.bias", "bn3.bias")):
            state[name] = (rng.uniform(0.5, 1.5, state[name].shape) if name.endswith("var") else
                           rng.standard_normal(state[name].shape)).astype(numpy.float32)
    return state


def fbresnet_style(state, rng):
    """``state`` as fbresnet152 stores it: a bias b on every convolution (so the batch norm after it holds
    running mean μ + b for the same network) and the classifier named last_linear."""
    arrays = {re.sub(r"^fc\.", "last_linear.", name): value for name, value in state.items()}
    for name, weight in state.items():
        if weight.ndim == 4:
            conv = name[:-len(".weight")]
            batch_norm = re.sub(r"downsample\.0$", "downsample.1", re.sub(r"conv(\d)$", r"bn\1", conv))
            arrays[conv + ".bias"] = bias = rng.standard_normal(weight.shape[0]).astype(numpy.float32)
            arrays[batch_norm + ".running_mean"] = state[batch_norm + ".running_mean"] + bias
    return arrays


# ----------------------------------------------------------------------------------- the preset
@pytest.fixture
def small_resnet(tmp_path, rng):
    """A small ResNet with torchvision's names, saved as .npz."""
    save_weights(tmp_path / "resnet.npz", resnet_arrays(rng))
    return tmp_path / "resnet.npz"


def test_preset_runs_end_to_end_on_a_real_image(tmp_path, rng, capsys):
    _, t7, prepro = torch7_files(tmp_path, rng)
    save_weights(tmp_path / "fbresnet.npz", fbresnet_style(resnet_arrays(rng), rng))
    image = easy_vqa.get_test_image_paths()[0]
    argv = ["--preset", "mlb-vqa", "--resnet", str(tmp_path / "fbresnet.npz"), "--mlb", str(t7),
            "--vocab", str(prepro), "--mlb-sizes", "word_dim=5,question_dim=6,joint_dim=4,glimpses=2",
            "--image", image, "--question", "What color is the shape?", "--out", str(tmp_path / "figure.png"),
            "--json", str(tmp_path / "result.json"), "--top-k", "3", "--sign", "code"]
    assert explain_main(argv) == 0                            # hadamard-explain --preset mlb-vqa …
    result = json.loads((tmp_path / "result.json").read_text())
    assert numpy.asarray(result["alpha"]).shape == (2, 14, 14) and result["shapes"]["grad_v"] == [3, 448, 448]
    assert Image.open(result["maps"]["pixel_map"]).size == Image.open(image).size  # back at the image's size
    assert result["answer"] in ANSWERS and result["tokens"] == ["what", "color", "is", "the", "shape"]
    assert len(result["top_k"]) == 3 and result["options"]["sign"] == "code"
    assert (tmp_path / "figure.png").stat().st_size > 10_000
    assert explain_main(argv + ["--weights", str(tmp_path / "model.npz")]) == 2
    assert "--weights and --preset exclude each other" in capsys.readouterr().err


def test_preset_takes_post_relu_features_for_vqa_pytorch(torch, tmp_path, small_resnet):
    _, pth, words, answers = vqa_pytorch_files(torch, tmp_path, M=64)
    model = build_preset("mlb-vqa", resnet=small_resnet, mlb=pth, vocab=words, answers=answers)
    assert model.pre_relu is False and model.crop and model.image_size == 448
    assert model.mlb.tanh_after_attention and model.mlb.tanh_before_classifier


def test_preset_refuses_an_mlb_for_other_features(torch, tmp_path, small_resnet):
    _, pth, words, answers = vqa_pytorch_files(torch, tmp_path, M=32)
    with pytest.raises(PortError, match=r"reads 32-channel image features but the ResNet .* gives 64"):
        build_preset("mlb-vqa", resnet=small_resnet, mlb=pth, vocab=words, answers=answers)


def test_preset_lists_every_missing_file_and_where_to_find_it(tmp_path):
    with pytest.raises(PresetFilesError) as error:
        build_preset("mlb-vqa", resnet=None, mlb=tmp_path / "ckpt.pth", vocab=None)
    message = str(error.value)
    assert "\n" not in message
    for needed in ("--resnet (not given)", "--mlb (no such file", "--vocab (not given)",
                   "--answers (not given)", "torchvision", "timm", "Cadene/vqa.pytorch",
                   "jnhwkim/MulLowBiVQA", "weights/README.md"):
        assert needed in message
