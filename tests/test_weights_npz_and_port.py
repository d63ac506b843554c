"""Our .npz weight files and their metadata, matching a state dict by name, and hadamard-port's refusals."""
import os
import subprocess
import sys

import numpy
import pytest
from test_weights import REPO, assert_same_arrays, sha256

from hadamard_min.cli.port import main as port_main
from hadamard_min.io.weights import (
    WeightsError,
    load_npz_metadata,
    load_weights,
    match_state_dict,
    save_weights,
)


def test_npz_roundtrip_with_metadata(tmp_path):
    rng = numpy.random.default_rng(1)
    arrays = {"layer.weight": rng.normal(size=(3, 4)).astype(numpy.float32),
              "layer.count": numpy.array(7, dtype=numpy.int64), "mask": rng.random(4) > 0.5}
    metadata = {"config": {"glimpses": 2, "words": ["a", "ü"]}, "source": "test"}
    path = tmp_path / "model.npz"

    save_weights(path, arrays, metadata=metadata)

    assert_same_arrays(load_weights(path), arrays)
    assert load_npz_metadata(path) == metadata
    with numpy.load(path, allow_pickle=False) as raw:
        assert sorted(raw.files) == sorted([*arrays, "__config__", "__source__"])
    assert os.listdir(tmp_path) == ["model.npz"]


def test_npz_metadata_as_uint8_bytes(tmp_path):
    path = tmp_path / "bytes.npz"
    numpy.savez(path, w=numpy.ones(2), __info__=numpy.frombuffer(b'{"n": 3}', dtype=numpy.uint8))

    assert load_npz_metadata(path) == {"info": {"n": 3}}
    assert list(load_weights(path)) == ["w"]


def test_save_weights_refuses_bad_names_and_paths(tmp_path):
    with pytest.raises(WeightsError, match="'__x' starts with '__'"):
        save_weights(tmp_path / "a.npz", {"__x": numpy.ones(1)})
    for climbing in ("../x", "a/../../x", "/etc/x", "..\\x", "C:x"):  # an unzip would write them elsewhere
        with pytest.raises(WeightsError, match="outside its folder"):
            save_weights(tmp_path / "a.npz", {climbing: numpy.ones(1)})
    save_weights(tmp_path / "kept.npz", {"layer1/conv.weight": numpy.ones(1), "a..b": numpy.ones(1)})
    assert sorted(load_weights(tmp_path / "kept.npz")) == ["a..b", "layer1/conv.weight"]
    os.unlink(tmp_path / "kept.npz")
    with pytest.raises(WeightsError, match=r"ending in \.npz"):
        save_weights(tmp_path / "a.pth", {"x": numpy.ones(1)})
    assert os.listdir(tmp_path) == []


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(WeightsError, match=r"weights file not found: .*nothing\.pth"):
        load_weights(tmp_path / "nothing.pth")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"weights\.h5: unknown weights format \.h5; supported: .*\.pth"):
        load_weights(tmp_path / "weights.h5")


def test_match_state_dict_strips_module_prefix_and_batch_counters():
    expected = {"conv.weight": (4, 3, 1, 1), "bn.running_mean": (4,)}
    weight, mean = numpy.ones((4, 3, 1, 1)), numpy.arange(4.0)
    found = {"module.conv.weight": weight, "module.bn.running_mean": mean,
             "module.bn.num_batches_tracked": numpy.array(5)}

    matched = match_state_dict(expected, found)

    assert list(matched) == list(expected)
    assert matched["conv.weight"] is weight and matched["bn.running_mean"] is mean


def test_match_state_dict_names_missing_unexpected_and_wrong_shapes():
    expected = {"layer1.0.conv1.weight": (64, 64, 1, 1), "fc.weight": (10, 64), "fc.bias": (10,)}
    found = {"layer1.0.conv1.weight": numpy.zeros((64, 32, 1, 1)), "fc.weight": numpy.zeros((10, 64)),
             "head.bias": numpy.zeros(10)}

    with pytest.raises(WeightsError) as error:
        match_state_dict(expected, found, source="resnet.npz")

    message = str(error.value)
    assert "\n" not in message and message.startswith("resnet.npz")
    assert "1 missing: fc.bias" in message
    assert "1 unexpected: head.bias" in message
    assert "layer1.0.conv1.weight: expected (64, 64, 1, 1), found (64, 32, 1, 1)" in message


def test_match_state_dict_shortens_long_lists():
    expected = {f"w{i}": (1,) for i in range(25)}

    with pytest.raises(WeightsError, match=r"25 missing: w0, w1, .*w9, and 15 more"):
        match_state_dict(expected, {})


def test_port_refuses_to_overwrite_without_force(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    source, destination = tmp_path / "model.pth", tmp_path / "model.npz"
    state = {"w": torch.randn(3, 2, dtype=torch.float64), "h": torch.randn(2).half(),
             "n": torch.tensor([1, 2])}
    torch.save(state, source)
    destination.write_bytes(b"existing")
    source_hash = sha256(source)

    assert port_main([str(source), str(destination)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already exists" in error and "--force" in error
    assert destination.read_bytes() == b"existing"

    assert port_main([str(source), str(destination), "--force"]) == 0
    assert "3 tensors (10 parameters)" in capsys.readouterr().out
    loaded = load_weights(destination)
    assert loaded["w"].dtype == numpy.float32 and loaded["h"].dtype == numpy.float32
    assert loaded["n"].dtype == numpy.int64
    numpy.testing.assert_array_equal(loaded["w"], state["w"].numpy().astype(numpy.float32))
    assert load_npz_metadata(destination) == {"source": "model.pth"}
    assert sha256(source) == source_hash


def test_port_reports_errors_in_one_line(tmp_path, capsys):
    assert port_main([str(tmp_path / "absent.pth"), str(tmp_path / "out.npz")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "weights file not found" in error and "Traceback" not in error
    assert not (tmp_path / "out.npz").exists()


def test_reading_a_torch_checkpoint_never_imports_torch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pth")
    code = ("import sys; from hadamard_min.io.weights import load_weights; "
            f"assert load_weights({str(tmp_path / 'model.pth')!r})['w'].sum() == 2; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
