"""Hostile variants of the published formats' files (MLB.t7, gru.t7, lookup_2k.t7, vqa.pytorch checkpoints,
their index files): each is refused in one line on stderr, or read as it means."""
import json
import tracemalloc
import warnings

import numpy
import pytest
from t7_writer import write_t7
from test_port_mlb import ANSWERS as ALL_ANSWERS
from test_port_mlb import WORDS as ALL_WORDS
from test_port_mlb import resnet_arrays, vqa_pytorch_arrays

from hadamard_min.io.errors import WeightsError
from hadamard_min.io.porting import PortError, build_preset, mlb_t7_layout, port_torch7_mlb, port_vqa_pytorch
from hadamard_min.io.weights import check_finite, save_weights

WORDS, ANSWERS = ["what", "UNK", "color"], ["red", "blue"]
SIZES = {"word_dim": 2, "question_dim": 3, "joint_dim": 2, "glimpses": 1}
VISUAL = 4


def mlb_t7(folder, vector):
    """MLB.t7 holding ``vector`` and its data_prepro.json (words WORDS, answers ANSWERS)."""
    write_t7(folder / "MLB.t7", vector)
    prepro = {"ix_to_word": {str(i + 1): w for i, w in enumerate(WORDS)},
              "ix_to_ans": {str(i + 1): a for i, a in enumerate(ANSWERS)}}
    (folder / "data_prepro.json").write_text(json.dumps(prepro))
    return folder / "MLB.t7", folder / "data_prepro.json"


def mlb_t7_size():
    return sum(int(numpy.prod(shape)) for _, shape in mlb_t7_layout(len(WORDS), len(ANSWERS), VISUAL, **SIZES))


def test_a_double_mlb_t7_beyond_float32_warns_nothing_on_stderr(tmp_path):
    """A float64 MLB.t7 holding 1e300 printed numpy's two-line RuntimeWarning ('overflow encountered in cast')
    on stderr before the one-line refusal: the cast to float32 now keeps quiet and check_finite refuses it."""
    vector = numpy.ones(mlb_t7_size())
    vector[-1] = 1e300
    t7, prepro = mlb_t7(tmp_path, vector)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ported = port_torch7_mlb(t7, prepro, visual_dim=VISUAL, **SIZES)
    assert numpy.isinf(ported.state["mlb.linear_classif.bias"][-1])
    with pytest.raises(WeightsError, match="NaN or infinity"):  # what every model's load_state_dict calls
        check_finite(ported.state, str(t7))


@pytest.mark.parametrize("sizes", [{"glimpses": 10 ** 9}, {"joint_dim": 10 ** 30}, {"visual_dim": 10 ** 12}])
def test_mlb_sizes_larger_than_the_file_are_refused_before_the_layout_is_built(tmp_path, sizes):
    """--mlb-sizes glimpses=1000000000 built a layout of a billion entries: 3 GB and still going after 20 s."""
    t7, prepro = mlb_t7(tmp_path, numpy.ones(mlb_t7_size(), numpy.float32))
    given = {**SIZES, "visual_dim": VISUAL, **sizes}
    with pytest.raises(PortError, match=f"fewer than {next(iter(sizes))} "):
        port_torch7_mlb(t7, prepro, **given)


def test_a_checkpoint_with_billions_of_empty_glimpses_is_refused_before_listing_them(tmp_path, rng):
    """conv_att.weight of shape (2**33, 0, 1, 1) holds nothing, and its first axis made the port list 2**34
    names it expected (3 GB and still going after 20 s)."""
    arrays = vqa_pytorch_arrays(rng)
    arrays["conv_v_att.weight"] = numpy.zeros((0, 12, 1, 1), numpy.float32)
    arrays["conv_att.weight"] = numpy.zeros((2 ** 33, 0, 1, 1), numpy.float32)
    save_weights(tmp_path / "mlb.npz", arrays)
    (tmp_path / "words.txt").write_text("\n".join(ALL_WORDS))
    (tmp_path / "answers.txt").write_text("\n".join(ALL_ANSWERS))
    with pytest.raises(PortError, match="8,589,934,592 glimpses"):
        port_vqa_pytorch(tmp_path / "mlb.npz", tmp_path / "words.txt", tmp_path / "answers.txt")


def test_a_preset_resnet_whose_classifier_is_empty_is_refused_before_the_model_is_built(tmp_path, rng):
    """fc.weight of shape (1000000, 0) in a 67 KB ResNet file made the preset build a classifier of a million
    classes (820 MB) before load_state_dict refused the shape."""
    arrays = resnet_arrays(rng)                                   # 64 output channels
    arrays["fc.weight"] = numpy.zeros((1_000_000, 0), numpy.float32)
    del arrays["fc.bias"]
    save_weights(tmp_path / "resnet.npz", arrays)
    t7, prepro = mlb_t7(tmp_path, numpy.ones(sum(int(numpy.prod(shape)) for _, shape in mlb_t7_layout(
        len(WORDS), len(ANSWERS), 64, **SIZES)), numpy.float32))
    tracemalloc.start()
    try:
        with pytest.raises(PortError, match=r"describe a model of .* parameters but hold"):
            build_preset("mlb-vqa", resnet=tmp_path / "resnet.npz", mlb=t7, vocab=prepro, mlb_sizes=SIZES)
        assert tracemalloc.get_traced_memory()[1] < 50 * 2 ** 20
    finally:
        tracemalloc.stop()
