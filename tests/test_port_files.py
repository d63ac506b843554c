"""The files around a port: the Torch7 reader, the skip-thoughts question encoder, vocabulary and answer
files, ResNet files in other layouts, and files or sizes that describe a layer of no units."""
import json
import pickle

import numpy
import pytest
from port_references import (
    rnn_gru_module,
    skipthoughts_state,
)
from t7_writer import _Writer, write_t7
from test_port_mlb import (
    ANSWERS,
    SIZES,
    SMALL_T7,
    WORDS,
    fbresnet_style,
    relative_error,
    resnet_arrays,
    vqa_pytorch_arrays,
)

from hadamard_min import ops
from hadamard_min.core.tensor import Tensor
from hadamard_min.data.text import tokenize
from hadamard_min.io.porting import (
    PortError,
    T7Error,
    TorchObject,
    port_torch7_mlb,
    port_torch7_question_encoder,
    port_uni_skip,
    port_vqa_pytorch,
    read_names,
    read_t7,
)
from hadamard_min.io.porting.resnet_files import resnet_state
from hadamard_min.io.porting.torch7 import TABLE, TORCH
from hadamard_min.io.porting.torch7_mlb import read_gru_t7
from hadamard_min.io.weights import UnsafePickleError, WeightsError, save_weights


# ----------------------------------------------------------------------------------- Torch7 files
def test_t7_reader_reads_tables_numbers_strings_and_typed_tensors(tmp_path):
    obj = {"name": "mlb", "count": 3.0, "flag": True, "list": [1.0, "two"],
           "double": numpy.arange(6, dtype=numpy.float64).reshape(2, 3), "long": numpy.arange(4)}
    write_t7(tmp_path / "x.t7", TorchObject("nn.Thing", obj))
    read = read_t7(tmp_path / "x.t7")
    assert read.class_name == "nn.Thing" and read["name"] == "mlb" and read["count"] == 3.0
    assert read["flag"] is True and read["list"] == [1.0, "two"]
    assert read["double"].dtype == numpy.float64 and read["double"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert read["long"].dtype == numpy.int64 and read["long"].tolist() == [0, 1, 2, 3]


def test_t7_reader_refuses_truncated_and_ascii_files(tmp_path):
    write_t7(tmp_path / "x.t7", numpy.ones(10, numpy.float32))
    (tmp_path / "cut.t7").write_bytes((tmp_path / "x.t7").read_bytes()[:-8])
    with pytest.raises(T7Error, match="run past the end"):
        read_t7(tmp_path / "cut.t7")
    (tmp_path / "ascii.t7").write_text("4\n1\n3\nV 1\n")
    with pytest.raises(T7Error, match="ASCII"):
        read_t7(tmp_path / "ascii.t7")


# ----------------------------------------------------------------------------------- vocabulary files
def _two_tensors_over_one_object(path, second_storage):
    """A list of a 2×1000 FloatTensor over its own storage (object 3) and a 1500-element FloatTensor from the
    second element of ``second_storage``: object 3 (that storage, as Torch7 shares one) or 2 (the tensor)."""
    with open(path, "wb") as file:
        writer = _Writer(file)
        writer.raw("<i4", TABLE)
        writer.new_index()                                           # object 1: the list
        writer.raw("<i4", 2)
        writer.write(1)
        writer.tensor(numpy.arange(2000, dtype=numpy.float32).reshape(2, 1000), cuda=False)  # objects 2, 3
        writer.write(2)
        writer.torch_header("torch.FloatTensor")                    # object 4
        writer.raw("<i4", 1)
        writer.raw("<i8", 1500, 1, 2)                                # size, stride, offset (1-based)
        writer.raw("<i4", TORCH, second_storage)                     # a reference to an object already read


def test_a_tensor_views_only_a_storage_never_another_tensor(tmp_path):
    """Tensors may share a storage (read once, referred to again); a reference to a *tensor* where a storage
    belongs would cut whole rows of it and let the view run past its end, so it is refused."""
    _two_tensors_over_one_object(tmp_path / "shared.t7", second_storage=3)
    first, second = read_t7(tmp_path / "shared.t7")
    assert second.tolist() == list(range(1, 1501)) and first.shape == (2, 1000)
    _two_tensors_over_one_object(tmp_path / "crafted.t7", second_storage=2)
    with pytest.raises(T7Error, match="without a valid storage"):
        read_t7(tmp_path / "crafted.t7")


def test_vocabulary_and_answer_files_in_every_published_form(tmp_path):
    forms = {"wid_to_word.pickle": pickle.dumps({i + 1: w for i, w in enumerate(WORDS)}),
             "word_to_wid.pkl": pickle.dumps({w: i + 1 for i, w in enumerate(WORDS)}),
             "vocab.txt": "\n".join(WORDS).encode(), "vocab.json": json.dumps(WORDS).encode()}
    for name, data in forms.items():
        (tmp_path / name).write_bytes(data)
        assert read_names(tmp_path / name, "words") == WORDS, name
    (tmp_path / "ans.pickle").write_bytes(pickle.dumps(ANSWERS))
    (tmp_path / "ans_to_aid.pickle").write_bytes(pickle.dumps({a: i for i, a in enumerate(ANSWERS)}))
    assert read_names(tmp_path / "ans.pickle", "answers") == read_names(tmp_path / "ans_to_aid.pickle",
                                                                        "answers") == ANSWERS


def test_vocabulary_files_with_gaps_code_or_zero_based_words_are_refused(tmp_path):
    (tmp_path / "gap.json").write_text(json.dumps({"1": "a", "3": "b"}))
    with pytest.raises(PortError, match="without gaps"):
        read_names(tmp_path / "gap.json", "words")
    (tmp_path / "zero.json").write_text(json.dumps({"0": "a", "1": "b"}))
    with pytest.raises(PortError, match="word ids start at 0"):
        read_names(tmp_path / "zero.json", "words")
    (tmp_path / "evil.pickle").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(UnsafePickleError):
        read_names(tmp_path / "evil.pickle", "words")


@pytest.mark.parametrize(("lines", "kind", "words"), [
    (["what", "color", "what"], "words", "'what' twice (ids 1 and 3)"),
    (["red", "blue", "red"], "answers", "'red' twice (ids 0 and 2)"),
    (["what", "<pad>"], "words", "'<pad>' as word id 2"),
    (["what", "UNK", "<unk>"], "words", "both 'UNK' and '<unk>'"),
])
def test_word_and_answer_files_naming_one_thing_twice_are_refused(tmp_path, lines, kind, words):
    (tmp_path / "names.txt").write_text("\n".join(lines))
    with pytest.raises(PortError, match=r"names\.txt: lists") as error:
        read_names(tmp_path / "names.txt", kind)
    assert words in str(error.value) and "published" in str(error.value)


# ----------------------------------------------------------------------------------- ResNet files
def test_fbresnet_conv_biases_fold_into_the_running_means(rng):
    state = resnet_arrays(rng)
    config, arrays = resnet_state(fbresnet_style(state, rng), "fbresnet152.pth")
    assert config == {"layers": [1, 1, 1, 1], "width": 2, "num_classes": 3}
    assert sorted(arrays) == sorted(state)
    for name, value in state.items():
        numpy.testing.assert_allclose(arrays[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
    # the identity behind it: bn(W * x + b) with mean μ + b = bn(W * x) with mean μ
    x, weight, b = (Tensor(rng.standard_normal(shape).astype(numpy.float32)) for shape in
                    ((1, 3, 5, 5), (4, 3, 3, 3), (4,)))
    gamma, beta, mean, var = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4), \
        rng.uniform(0.5, 1.5, 4)
    with_bias = ops.batch_norm(ops.conv2d(x, weight, b), gamma, beta, mean + b.data, var)
    folded = ops.batch_norm(ops.conv2d(x, weight), gamma, beta, mean, var)
    numpy.testing.assert_allclose(with_bias.data, folded.data, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------- skip-thoughts
def uni_skip_files(folder, rng, D=5, H=6, **changes):
    shapes = {"encoder_W": (D, 2 * H), "encoder_b": (2 * H,), "encoder_U": (H, 2 * H), "encoder_Wx": (D, H),
              "encoder_bx": (H,), "encoder_Ux": (H, H), "Wemb": (11, D), **changes}
    arrays = {name: (rng.standard_normal(shape) * 0.5).astype("float32") for name, shape in shapes.items()}
    numpy.savez(folder / "uni_skip.npz", **arrays)
    dictionary = ["the", "UNK", "<eos>", "what", "color", "is", "shape"]
    numpy.save(folder / "utable.npy", rng.standard_normal((len(dictionary), D)).astype("float32"))
    (folder / "dictionary.txt").write_text("\n".join(dictionary) + "\n")
    return arrays, dictionary


def test_uni_skip_port_matches_the_skipthoughts_step(tmp_path, rng):
    arrays, dictionary = uni_skip_files(tmp_path, rng)
    encoder, vocab = port_uni_skip(tmp_path / "uni_skip.npz", tmp_path / "utable.npy",
                                   tmp_path / "dictionary.txt", ["what", "color", "is", "the", "zebra"])
    utable = numpy.load(tmp_path / "utable.npy")
    table = encoder.embedding.weight.data
    unk = utable[dictionary.index("UNK")]
    assert not table[0].any() and numpy.array_equal(table[1], unk)                 # <pad>, <unk>
    assert numpy.array_equal(table[vocab.index("zebra")], unk)                     # not in the dictionary
    assert numpy.array_equal(table[vocab.index("color")], utable[dictionary.index("color")])
    question = "what color is the zebra"
    ids, n = vocab.encode(tokenize(question), 7)
    ours = encoder(ids[None], [n])[0].data[0]
    rows = [dictionary.index(w) if w in dictionary else dictionary.index("UNK") for w in tokenize(question)]
    assert relative_error(ours, skipthoughts_state(arrays, utable[rows])) <= 1e-4


def test_uni_skip_of_another_layout_is_refused(tmp_path, rng):
    uni_skip_files(tmp_path, rng, encoder_U=(6, 13))
    with pytest.raises(PortError, match=r"encoder_U: expected \(6, 12\), found \(6, 13\)"):
        port_uni_skip(tmp_path / "uni_skip.npz", tmp_path / "utable.npy", tmp_path / "dictionary.txt",
                      ["what"])


# ----------------------------------------------------------------------------------- sizes below one
@pytest.mark.parametrize("size, name", [("A", "attention_dim"), ("G", "glimpses"), ("J", "joint_dim")])
def test_a_vqa_pytorch_layer_of_no_units_is_refused(tmp_path, rng, size, name):
    save_weights(tmp_path / "empty.npz", vqa_pytorch_arrays(rng, {**SIZES, size: 0}))
    (tmp_path / "words.txt").write_text("\n".join(WORDS))
    (tmp_path / "answers.txt").write_text("\n".join(ANSWERS))
    with pytest.raises(PortError, match=f"empty.npz .*found {name} 0[,;]"):
        port_vqa_pytorch(tmp_path / "empty.npz", tmp_path / "words.txt", tmp_path / "answers.txt")


@pytest.mark.parametrize("change", [{"glimpses": 0}, {"word_dim": -1}, {"joint_dim": 2.5}, {"visual_dim": 0}])
def test_torch7_mlb_sizes_below_one_are_refused_before_reading(tmp_path, change):
    name, value = next(iter(change.items()))
    with pytest.raises(PortError, match=f"found {name} {value!r};"):
        port_torch7_mlb(tmp_path / "absent.t7", tmp_path / "absent.json", **{**SMALL_T7, **change})


def test_a_gru_or_uni_skip_of_no_hidden_units_is_refused(tmp_path, rng):
    D = 5
    params = [numpy.zeros(shape, "float32") for shape in ((0, D), (0,), (0, 0), (0, D), (0,), (0, 0))]
    write_t7(tmp_path / "gru.t7", rnn_gru_module(params, bayesian=False))
    with pytest.raises(PortError, match="found question_dim 0;"):
        read_gru_t7(tmp_path / "gru.t7")
    uni_skip_files(tmp_path, rng, H=0)
    with pytest.raises(PortError, match="found hidden_dim 0;"):
        port_uni_skip(tmp_path / "uni_skip.npz", tmp_path / "utable.npy", tmp_path / "dictionary.txt", ["what"])


def test_a_word_vector_that_is_not_finite_is_blamed_on_utable(tmp_path, rng):
    uni_skip_files(tmp_path, rng)
    utable = numpy.load(tmp_path / "utable.npy")
    utable[3, 0] = numpy.nan  # "what"
    numpy.save(tmp_path / "utable.npy", utable)
    with pytest.raises(WeightsError, match=r"utable\.npy: weight embedding\.weight holds NaN"):
        port_uni_skip(tmp_path / "uni_skip.npz", tmp_path / "utable.npy", tmp_path / "dictionary.txt", ["what"])


def test_a_word_vector_that_is_not_finite_is_blamed_on_the_lookup_table(tmp_path):
    D, N = 3, 2
    table = numpy.ones((len(WORDS) + 1, D), "float32")
    table[1, 0] = numpy.inf
    write_t7(tmp_path / "lookup_2k.t7", TorchObject("nn.LookupTableMaskZero", {"weight": table}))
    params = [numpy.zeros(shape, "float32") for shape in ((2 * N, D), (2 * N,), (2 * N, N), (N, D), (N,), (N, N))]
    write_t7(tmp_path / "gru.t7", rnn_gru_module(params, bayesian=False))
    (tmp_path / "words.txt").write_text("\n".join(WORDS))
    with pytest.raises(WeightsError, match=r"lookup_2k\.t7: weight embedding\.weight holds NaN"):
        port_torch7_question_encoder(tmp_path / "lookup_2k.t7", tmp_path / "gru.t7", tmp_path / "words.txt")
