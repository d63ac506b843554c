"""Inputs that used to be accepted in silence and give nonsense: weights holding NaN or infinity, a negative
variance or complex numbers (for every model, checked where every model loads; hadamard-port refuses what
float32 cannot hold), a checkpoint whose epoch count is out of range or whose vocabulary is not the data's,
a safetensors header naming one tensor twice or leaving bytes between tensors, a JSON object naming one key
twice, and a vocabulary whose ids are spelt two ways. Each is refused in one line.
"""
import json

import numpy
import pytest
from crafted import safetensors
from hostile_helpers import STOPPED_RUN, run_main, sha256

from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.port import main as port_main
from hadamard_min.cli.saliency import main as saliency_main
from hadamard_min.cli.train import main as train_main
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import parse_json
from hadamard_min.io.model_files import SHIPPED_MODEL
from hadamard_min.io.npz import load_npz_metadata, save_weights
from hadamard_min.io.porting import PortError, read_names
from hadamard_min.io.safetensors import load_safetensors
from hadamard_min.io.weights import load_weights
from hadamard_min.models.efficientnet import EfficientNetLite
from hadamard_min.models.resnet import ResNet


@pytest.fixture(scope="module")
def lite0_state():
    return EfficientNetLite(rng=numpy.random.default_rng(3)).state_dict()


@pytest.mark.parametrize(("name", "value"), [("_fc.weight", numpy.nan), ("_bn0.running_var", numpy.inf),
                                             ("_fc.bias", 1e300)])
def test_hadamard_saliency_refuses_weights_that_are_not_finite(tmp_path, capsys, lite0_state, name, value):
    state = {key: array.astype(numpy.float64) for key, array in lite0_state.items()}
    state[name].flat[0] = value  # 1e300: finite in the file, infinite once float32
    save_weights(tmp_path / "w.npz", state)
    outcome = run_main(saliency_main, ["coffee", "--weights", tmp_path / "w.npz", "--out", tmp_path / "s.png"],
                       capsys)
    outcome.one_line_error(name, "NaN or infinity")
    assert "p = " not in outcome.out and not (tmp_path / "s.png").exists()


def test_every_model_refuses_a_state_dict_that_is_not_finite():
    model = ResNet((1,), width=2, num_classes=3, rng=numpy.random.default_rng(0))
    state = model.state_dict()
    state["fc.weight"] = numpy.full_like(state["fc.weight"], numpy.nan)
    with pytest.raises(WeightsError, match=r"fc\.weight"):
        model.load_state_dict(state, source="resnet.npz")


@pytest.mark.parametrize(("suffix", "value", "words"), [("running_var", numpy.inf, "NaN or infinity"),
                                                        ("running_var", -1.0, "below zero"),
                                                        ("bias", 1 + 1j, "complex")])
def test_hadamard_explain_refuses_a_model_with_a_weight_it_cannot_use(tmp_path, capsys, photo, suffix, value, words):
    arrays = load_weights(SHIPPED_MODEL)
    name = next(key for key in arrays if key.endswith(suffix))
    arrays[name] = arrays[name].astype(numpy.result_type(arrays[name], value))
    arrays[name].flat[0] = value
    save_weights(tmp_path / "m.npz", arrays, load_npz_metadata(SHIPPED_MODEL))
    outcome = run_main(explain_main, ["--weights", tmp_path / "m.npz", "--image", photo, "--out", tmp_path / "o.png"],
                       capsys)
    outcome.one_line_error(name, words)  # no warning line (a square root of -1, a dropped imaginary part) before it
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("key", ["vocab", "answers"])
def test_hadamard_explain_refuses_a_model_naming_a_word_or_an_answer_twice(tmp_path, capsys, photo, key):
    metadata = load_npz_metadata(SHIPPED_MODEL)
    metadata[key].append(metadata[key][-1])  # --answer NAME would pick one of two outputs
    save_weights(tmp_path / "m.npz", load_weights(SHIPPED_MODEL), metadata)
    outcome = run_main(explain_main, ["--weights", tmp_path / "m.npz", "--image", photo, "--out", tmp_path / "o.png"],
                       capsys)
    outcome.one_line_error("m.npz", f"its {key} lists {metadata[key][-1]!r} twice", "corrupt")


@pytest.mark.parametrize(("array", "words"), [(numpy.array([1.0, 1e300]), "1e+300"),
                                              (numpy.array([1 + 2j], numpy.complex64), "complex")])
def test_hadamard_port_refuses_a_tensor_float32_cannot_hold(tmp_path, capsys, array, words):
    numpy.savez(tmp_path / "w.npz", ok=numpy.ones(2), w=array)
    outcome = run_main(port_main, [tmp_path / "w.npz", tmp_path / "out.npz"], capsys)
    outcome.one_line_error("'w'", words)
    assert not (tmp_path / "out.npz").exists()


def crafted_checkpoint(stopped_run, folder, **changes):
    """The stopped run's checkpoint in ``folder`` with its metadata changed; returns the checkpoint's path."""
    metadata = load_npz_metadata(stopped_run / "model.checkpoint.npz")
    for key, change in changes.items():
        metadata[key] = change(metadata[key])
    checkpoint = folder / "model.checkpoint.npz"
    save_weights(checkpoint, load_weights(stopped_run / "model.checkpoint.npz"), metadata)
    return checkpoint


@pytest.mark.parametrize(("changes", "words"), [
    ({"epoch": lambda epoch: 10 ** 30}, ["epochs are done"]),
    ({"epoch": lambda epoch: 4}, ["epochs are done"]),
    ({"epoch": lambda epoch: 2}, ["history lists 1"]),
    ({"vocab": lambda vocab: vocab[::-1]}, ["vocabulary"]),
    ({"answers": lambda answers: answers[::-1]}, ["answer list"]),
    *[({"history": lambda history, seconds=seconds: [{**history[0], "seconds": seconds}]}, [f"{seconds!r} s"])
      for seconds in (-1e9, float("inf"), float("-inf"), float("nan"))],
    ({"random_state": lambda state: {**state, "batches": {"bit_generator": "PCG64", "state": "x"}}},
     ["random state"]),
    ({"random_state": lambda state: {**state, "dropout": ["MT19937", -5, 0, 0.0]}}, ["random state"]),
    ({"settings": lambda settings: {**settings, "seed": 7}}, ["--seed 7"]),
    ({"settings": lambda settings: [7]}, ["settings are not a JSON object"]),
])
def test_a_checkpoint_that_does_not_fit_the_run_is_refused(stopped_run, tmp_path, capsys, changes, words):
    checkpoint = crafted_checkpoint(stopped_run, tmp_path, **changes)
    before = sha256(checkpoint)
    outcome = run_main(train_main, ["--out", tmp_path / "model.npz", *STOPPED_RUN[:2], *STOPPED_RUN[4:], "--resume"],
                       capsys)
    outcome.last_line_error("model.checkpoint.npz", *words)
    assert sha256(checkpoint) == before and not (tmp_path / "model.npz").exists()


def two_tensor_header(second_begin, first_name="a", second_name="b"):
    """The text of a safetensors header of two F32 tensors of 2 elements, the second starting at ``second_begin``."""
    first = f'"{first_name}": {{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'
    second = f'"{second_name}": {{"dtype": "F32", "shape": [2], "data_offsets": [{second_begin}, {second_begin + 8}]}}'
    return f"{{{first}, {second}}}".encode()


def raw_safetensors(header, data):
    return len(header).to_bytes(8, "little") + header + data


@pytest.mark.parametrize(("header", "data", "words"), [
    (two_tensor_header(8, "a", "a"), bytes(16), ["'a' more than once"]),
    (two_tensor_header(12), bytes(20), ["bytes 8..12 unused"]),
    (two_tensor_header(8), bytes(24), ["bytes 0..16 of the 24"]),
])
def test_hadamard_port_refuses_a_safetensors_file_the_reference_library_refuses(tmp_path, capsys, header, data,
                                                                                 words):
    (tmp_path / "w.safetensors").write_bytes(raw_safetensors(header, data))
    outcome = run_main(port_main, [tmp_path / "w.safetensors", tmp_path / "out.npz"], capsys)
    outcome.one_line_error(*words)
    assert not (tmp_path / "out.npz").exists()


def test_a_safetensors_file_whose_tensors_tile_the_data_still_loads(tmp_path):
    data = numpy.arange(4, dtype="<f4").tobytes()
    (tmp_path / "w.safetensors").write_bytes(raw_safetensors(two_tensor_header(8), data))
    arrays = load_safetensors(tmp_path / "w.safetensors")
    assert arrays["a"].tolist() == [0, 1] and arrays["b"].tolist() == [2, 3]
    empty = {"e": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]},
             "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    (tmp_path / "e.safetensors").write_bytes(safetensors(empty, data[:8]))
    assert load_safetensors(tmp_path / "e.safetensors")["e"].shape == (0,)


@pytest.mark.parametrize(("text", "words"), [('{"1": "a", "01": "b"}', "without leading zeros"),
                                             ('{"a": 1, "b": 1}', "share one id"),
                                             ('{"1": "a", "1": "b"}', "'1' more than once"),
                                             ('{"ix_to_word": {"1": "a", "2": "b", "002": "c"}}', "leading zeros")])
def test_a_vocabulary_that_names_one_id_twice_is_refused(tmp_path, text, words):
    (tmp_path / "vocab.json").write_text(text)
    with pytest.raises(WeightsError, match=words):
        read_names(tmp_path / "vocab.json", "words")


def test_a_pickled_vocabulary_with_one_id_as_a_number_and_as_text_is_refused(tmp_path):
    import pickle
    (tmp_path / "vocab.pickle").write_bytes(pickle.dumps({1: "a", "1": "b", 2: "c"}, protocol=2))
    with pytest.raises(PortError, match="share one id"):
        read_names(tmp_path / "vocab.pickle", "words")


def test_a_json_object_naming_a_key_twice_is_refused_by_every_reader():
    with pytest.raises(WeightsError, match="'sha256' more than once"):
        parse_json(json.dumps({"file": "m.npz"})[:-1] + ', "sha256": "a", "sha256": "b"}', "m.json", "manifest")
