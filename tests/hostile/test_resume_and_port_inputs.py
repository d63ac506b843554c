"""A checkpoint to resume, the files of the published-model preset, a model's manifest and config: crafted
ones are one line and exit 2, and --resume continues a run that --stop-after ended."""
import json
import os

import numpy
import pytest
from hostile_helpers import STOPPED_RUN, run_child, run_main, sha256, write_photo

from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.train import main as train_main
from hadamard_min.io.model_files import SHIPPED_MODEL
from hadamard_min.io.npz import load_npz_metadata, save_weights
from hadamard_min.io.porting import PortError
from hadamard_min.io.porting.index_files import _as_id
from hadamard_min.io.porting.resnet_files import resnet_state
from hadamard_min.io.weights import load_weights
from hadamard_min.models.resnet import ResNet


def test_resume_continues_a_run_that_stop_after_ended(stopped_run, tmp_path, capsys):
    for name in ("model.npz", "model.json", "model.checkpoint.npz"):
        (tmp_path / name).write_bytes((stopped_run / name).read_bytes())
    outcome = run_main(train_main, ["--out", tmp_path / "model.npz", *STOPPED_RUN[:2], *STOPPED_RUN[4:], "--resume"],
                       capsys)
    outcome.success()
    assert [h["epoch"] for h in json.loads((tmp_path / "model.json").read_text())["history"]] == [1, 2, 3]


CHANGES = {
    "no step count": lambda a: a.pop("adam.t"),
    "a moment missing": lambda a: a.pop("adam.v.5"),
    "a step count of three numbers": lambda a: a.update({"adam.t": numpy.zeros(3)}),
    "a negative step count": lambda a: a.update({"adam.t": numpy.array(-5)}),
    "a complex step count": lambda a: a.update({"adam.t": numpy.array(1 + 2j)}),
    "a step count too large to save again": lambda a: a.update({"adam.t": numpy.array(1e300)}),
    "a moment of another shape": lambda a: a.update({"adam.m.0": numpy.zeros((2, 2), numpy.float32)}),
    "a NaN moment": lambda a: a["adam.m.1"].fill(numpy.nan),
    "a NaN weight": lambda a: a[next(k for k in a if not k.startswith("adam."))].fill(numpy.nan),
    "a first moment Adam cannot reach": lambda a: a["adam.m.0"].fill(3e38),  # finite, but the weights overflow
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_crafted_checkpoint_is_one_line_and_left_as_it_was(stopped_run, tmp_path, capsys, change):
    for name in ("model.npz", "model.json"):
        (tmp_path / name).write_bytes((stopped_run / name).read_bytes())
    checkpoint = tmp_path / "model.checkpoint.npz"
    arrays = load_weights(stopped_run / "model.checkpoint.npz")
    CHANGES[change](arrays)
    save_weights(checkpoint, arrays, load_npz_metadata(stopped_run / "model.checkpoint.npz"))
    before = sha256(checkpoint)
    outcome = run_main(train_main, ["--out", tmp_path / "model.npz", *STOPPED_RUN[:2], *STOPPED_RUN[4:], "--resume"],
                       capsys)
    outcome.one_line_error("model.checkpoint.npz")
    assert sha256(checkpoint) == before


def test_weights_that_training_makes_infinite_are_not_written(stopped_run, tmp_path, capsys):
    for name in ("model.npz", "model.json"):
        (tmp_path / name).write_bytes((stopped_run / name).read_bytes())
    checkpoint = tmp_path / "model.checkpoint.npz"
    arrays = load_weights(stopped_run / "model.checkpoint.npz")
    arrays["backbone.conv1.weight"].fill(3e38)  # finite, as a checkpoint must be; the forward pass overflows
    save_weights(checkpoint, arrays, load_npz_metadata(stopped_run / "model.checkpoint.npz"))
    before = {name: sha256(tmp_path / name) for name in ("model.npz", "model.json", "model.checkpoint.npz")}
    outcome = run_main(train_main, ["--out", tmp_path / "model.npz", *STOPPED_RUN[:2], *STOPPED_RUN[4:], "--resume"],
                       capsys)
    outcome.last_line_error("diverged in epoch 2", "became NaN or infinity")
    assert {name: sha256(tmp_path / name) for name in before} == before


@pytest.mark.parametrize("change", ["a bias of another length", "a mean of another length", "a complex mean"])
def test_a_conv_bias_that_does_not_fit_its_batch_norm_is_a_port_error(change):
    """fbresnet-style files: a convolution's bias is folded into the running mean after it, once both are
    known to hold one real number per filter (a crafted pair broadcast, or warned about complex numbers)."""
    arrays = ResNet((1,), width=2, num_classes=3, rng=numpy.random.default_rng(0)).state_dict()
    filters = arrays["conv1.weight"].shape[0]
    arrays["conv1.bias"] = numpy.zeros(filters + (change == "a bias of another length"), numpy.float32)
    if change == "a mean of another length":
        arrays["bn1.running_mean"] = numpy.zeros(1, numpy.float32)
    elif change == "a complex mean":
        arrays["bn1.running_mean"] = numpy.zeros(filters, numpy.complex64)
    with pytest.raises(PortError, match="conv1"):
        resnet_state(arrays, "resnet.npz")
    arrays["conv1.bias"], arrays["bn1.running_mean"] = numpy.ones(filters), numpy.zeros(filters, numpy.float32)
    assert resnet_state(arrays, "resnet.npz")[1]["bn1.running_mean"].tolist() == [-1.0] * filters  # it can pass


@pytest.mark.parametrize("key", ["¹", "٣", "1" * 40, "12a"])
def test_vocabulary_ids_are_ascii_digits_only(key):
    assert _as_id(key) is None
    assert _as_id("12") == 12


@pytest.mark.parametrize("name", ["conv1.weight", "fc.weight"])
def test_a_resnet_file_with_a_scalar_where_a_matrix_belongs_is_a_port_error(name):
    arrays = ResNet((1,), width=2, num_classes=3, rng=numpy.random.default_rng(0)).state_dict()
    arrays[name] = numpy.float32(1.0)
    with pytest.raises(PortError, match=name):
        resnet_state(arrays, "resnet.npz")


def test_a_manifest_that_is_a_pipe_is_one_line_not_a_hang(tmp_path):
    model = tmp_path / "model.npz"
    model.write_bytes(SHIPPED_MODEL.read_bytes())
    os.mkfifo(tmp_path / "model.json")
    outcome = run_child(["hadamard_min.cli.explain", "--weights", model, "--out", "o.png"], tmp_path, timeout=60)
    outcome.one_line_error("not a regular file")


@pytest.mark.parametrize("changes", [{"std": [1e-300, 1e-300, 1e-300]}, {"mean": [1e300, -1e300, 0]},
                                     {"std": [0.2, 0.2, 1e7]}])
def test_a_normalisation_that_overflows_is_one_line(tmp_path, capsys, changes):
    path = tmp_path / "model.npz"
    metadata = load_npz_metadata(SHIPPED_MODEL)
    metadata["config"].update(changes)
    save_weights(path, load_weights(SHIPPED_MODEL), metadata)
    outcome = run_main(explain_main, ["--weights", path, "--image", write_photo(tmp_path / "p.png"),
                                      "--out", tmp_path / "o.png"], capsys)
    outcome.one_line_error("expected three numbers")
    assert not (tmp_path / "o.png").exists()


def test_save_arrays_with_an_upper_case_suffix_is_refused_before_any_work(tmp_path, capsys):
    outcome = run_main(explain_main, ["--image", write_photo(tmp_path / "p.png"), "--out", tmp_path / "o.png",
                                      "--save-arrays", tmp_path / "x.NPZ"], capsys)
    outcome.one_line_error("--save-arrays")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


def test_answers_with_control_characters_reach_the_terminal_as_text(tmp_path, capsys):
    path = tmp_path / "model.npz"
    metadata = load_npz_metadata(SHIPPED_MODEL)
    metadata["answers"] = ["\x1b[31m" + answer + "\n" for answer in metadata["answers"]]
    save_weights(path, load_weights(SHIPPED_MODEL), metadata)
    outcome = run_main(explain_main, ["--weights", path, "--out", tmp_path / "o.png"], capsys).success()
    assert "\x1b" not in outcome.out and "\\x1b[31m" in outcome.out
    answer_line = next(line for line in outcome.out.splitlines() if line.startswith("answer:"))
    assert "\\n (p = " in answer_line
