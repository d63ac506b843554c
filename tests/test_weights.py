"""Weight files: torch checkpoints, safetensors and our .npz read back exactly; unsafe pickles are refused."""
import collections
import hashlib
import io
import os
import pickle
import zipfile

import numpy
import pytest

from hadamard_min.io.safe_pickle import restricted_unpickle
from hadamard_min.io.weights import (
    UnsafePickleError,
    WeightsError,
    load_weights,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_reference(tensor):
    """The NumPy array a tensor should load as (bfloat16 widens exactly to float32)."""
    torch = pytest.importorskip("torch")
    tensor = tensor.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def assert_same_arrays(loaded, reference):
    assert list(loaded) == list(reference)
    for name, expected in reference.items():
        assert loaded[name].dtype == expected.dtype, name
        assert loaded[name].shape == expected.shape, name
        numpy.testing.assert_array_equal(loaded[name], expected, err_msg=name)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_torch_state_dict_with_several_dtypes_loads_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 5))
    state = model.state_dict()
    state["1.running_mean"] += torch.randn(8)
    state["extra.half"] = torch.randn(4, 3).half()
    state["extra.bfloat16"] = torch.randn(6).to(torch.bfloat16)
    state["extra.double"] = torch.randn(2, 2, dtype=torch.float64)
    for dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        state[f"extra.{dtype}"] = torch.randint(-100 if dtype.is_signed else 0, 100, (3, 2), dtype=dtype)
    state["extra.uint16"] = torch.tensor([0, 1, 65535], dtype=torch.uint16)
    state["extra.bool"] = torch.tensor([True, False, True])
    state["extra.parameter"] = torch.nn.Parameter(torch.randn(3))
    path = tmp_path / "model.pth"
    torch.save(state, path)

    loaded = load_weights(path)

    assert_same_arrays(loaded, {name: torch_reference(tensor) for name, tensor in state.items()})
    assert loaded["extra.bfloat16"].dtype == numpy.float32
    assert loaded["1.num_batches_tracked"].shape == ()


def test_torch_views_with_strides_offsets_and_shared_storage(tmp_path):
    torch = pytest.importorskip("torch")
    base = torch.randn(6, 7)
    state = {"transposed": base.t(), "sliced": base[2:5, 1::3], "row": base[4],
             "expanded": torch.randn(3, 1).expand(3, 4), "scalar": torch.tensor(2.5),
             "empty": torch.zeros(0, 4), "whole": base}
    path = tmp_path / "views.pt"
    torch.save(state, path)

    loaded = load_weights(path)

    assert_same_arrays(loaded, {name: tensor.numpy() for name, tensor in state.items()})
    loaded["transposed"][0, 0] += 1.0  # copies, not views of one shared buffer
    assert loaded["whole"][0, 0] == base[0, 0].item()


def test_torch_checkpoint_wrappers_are_unwrapped_or_flattened(tmp_path):
    torch = pytest.importorskip("torch")
    state = collections.OrderedDict(weight=torch.randn(2, 3), bias=torch.randn(2))
    torch.save({"state_dict": state, "epoch": 7, "optimizer": {"lr": 0.1}}, tmp_path / "wrapped.pth")
    torch.save({"encoder": {"weight": state["weight"]}, "head": {"fc": {"bias": state["bias"]}}},
               tmp_path / "nested.pth")
    torch.save([state["bias"]], tmp_path / "list.pth")

    assert_same_arrays(load_weights(tmp_path / "wrapped.pth"), {k: v.numpy() for k, v in state.items()})
    assert_same_arrays(load_weights(tmp_path / "nested.pth"),
                       {"encoder.weight": state["weight"].numpy(), "head.fc.bias": state["bias"].numpy()})
    with pytest.raises(WeightsError, match=r"list\.pth: holds a list"):
        load_weights(tmp_path / "list.pth")


def test_safetensors_all_dtypes_load_exactly(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    rng = numpy.random.default_rng(0)
    arrays = {"f64": rng.normal(size=(2, 3)), "f32": rng.normal(size=(4,)).astype(numpy.float32),
              "f16": rng.normal(size=(3, 1)).astype(numpy.float16), "bool": rng.random(5) > 0.5,
              "scalar": numpy.array(1.5, dtype=numpy.float32)}
    for dtype in (numpy.int64, numpy.int32, numpy.int16, numpy.int8, numpy.uint8):
        arrays[numpy.dtype(dtype).name] = rng.integers(0, 100, size=(2, 2)).astype(dtype)
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file(arrays, str(path), metadata={"format": "np"})

    loaded = load_weights(path)

    assert_same_arrays(dict(sorted(loaded.items())), dict(sorted(arrays.items())))


def test_safetensors_bfloat16_widens_to_float32(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    state = {"bf16": torch.randn(3, 5).to(torch.bfloat16), "f32": torch.randn(2)}
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file(state, str(path))

    loaded = load_weights(path)

    reference = {name: torch_reference(tensor) for name, tensor in sorted(state.items())}
    assert_same_arrays(dict(sorted(loaded.items())), reference)


@pytest.mark.parametrize("keep", [4, 12, -3])
def test_truncated_safetensors_is_reported_with_the_file_name(tmp_path, keep):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "cut.safetensors"
    safetensors_numpy.save_file({"w": numpy.arange(12, dtype=numpy.float32)}, str(path))
    path.write_bytes(path.read_bytes()[:keep])

    with pytest.raises(WeightsError, match=r"cut\.safetensors: truncated or corrupt"):
        load_weights(path)


@pytest.mark.parametrize("header, problem", [
    (b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', "tensor 'w'"),
    (b'{"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}}', "entry 'w' is malformed"),
    (b'{"w": {"dtype": "F32", "shape": [2]}}', "entry 'w' is malformed"),
    (b'["w"]', "not a JSON object"),
    (b'{"w": ', "not JSON"),
])
def test_safetensors_with_a_bad_header_is_corrupt(tmp_path, header, problem):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))

    with pytest.raises(WeightsError, match=rf"bad\.safetensors: truncated or corrupt .*{problem}"):
        load_weights(path)


def test_npy_or_text_named_npz_is_reported(tmp_path):
    numpy.save(tmp_path / "single.npy", numpy.ones(3))
    os.rename(tmp_path / "single.npy", tmp_path / "single.npz")
    (tmp_path / "text.npz").write_text("not weights")

    with pytest.raises(WeightsError, match=r"single\.npz: holds a single \.npy array"):
        load_weights(tmp_path / "single.npz")
    with pytest.raises(WeightsError, match=r"text\.npz: not a readable \.npz file"):
        load_weights(tmp_path / "text.npz")


@pytest.mark.parametrize("keep", [100, 0.5, -30])
def test_truncated_torch_checkpoint_is_reported_with_the_file_name(tmp_path, keep):
    torch = pytest.importorskip("torch")
    path = tmp_path / "cut.pth"
    torch.save({"w": torch.randn(64, 64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep) if isinstance(keep, float) else keep])

    with pytest.raises(WeightsError, match=r"cut\.pth: truncated or corrupt"):
        load_weights(path)


def test_legacy_torch_checkpoint_is_read(tmp_path):
    """The legacy format goes to its own reader (tests/test_legacy_torch.py checks it in depth)."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "old.pth"
    saved = torch.randn(2)
    torch.save({"w": saved}, path, _use_new_zipfile_serialization=False)

    numpy.testing.assert_array_equal(load_weights(path)["w"], saved.numpy())


@pytest.mark.parametrize("legacy", [False, True])
def test_both_torch_formats_refuse_tensors_that_copy_a_storage_many_times(tmp_path, legacy):
    """One 256 KiB tensor referred to 64 times, and one expanded a million-fold: the shared checks of
    torch_files.resolve refuse both, in the zip format and the legacy one alike."""
    torch = pytest.importorskip("torch")
    shared = torch.ones(2 ** 16)
    for name, state, problem in (("copies.pth", {f"w{k}": shared for k in range(64)}, "times the bytes"),
                                 ("expanded.pth", {"w": torch.ones(4, 1).expand(4, 10 ** 6)}, "zero-stride")):
        torch.save(state, tmp_path / name, _use_new_zipfile_serialization=not legacy)
        with pytest.raises(WeightsError, match=problem):
            load_weights(tmp_path / name)
    torch.save({"w": torch.ones(3, 1).expand(3, 4)}, tmp_path / "small.pth", _use_new_zipfile_serialization=not legacy)
    numpy.testing.assert_array_equal(load_weights(tmp_path / "small.pth")["w"], numpy.ones((3, 4), numpy.float32))


class RunsShell:
    """An object whose unpickling would run a shell command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class CallsEval:
    def __reduce__(self):
        return eval, ("1 + 1",)


def write_torch_like_zip(path, payload):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        archive.writestr("archive/byteorder", "little")


def test_malicious_checkpoint_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    write_torch_like_zip(path, {"weight": RunsShell(f"echo pwned > {marker}")})

    with pytest.raises(UnsafePickleError, match=rf"evil\.pth: .*names {os.system.__module__}\.system"):
        load_weights(path)
    assert not marker.exists()

    write_torch_like_zip(path, CallsEval())
    with pytest.raises(UnsafePickleError, match=r"names (__builtin__|builtins)\.eval"):
        load_weights(path)


def test_restricted_unpickle_reads_plain_data_and_refuses_code(tmp_path):
    vocabulary = {"words": ["what", "color"], "index": {"what": 1}, "seen": {3, 4},
                  "ordered": collections.OrderedDict(a=1)}
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        assert restricted_unpickle(io.BytesIO(pickle.dumps(vocabulary, protocol=protocol))) == vocabulary

    marker = tmp_path / "marker"
    with pytest.raises(UnsafePickleError, match="system"):
        restricted_unpickle(io.BytesIO(pickle.dumps(RunsShell(f"touch {marker}"))))
    assert not marker.exists()
    harmless = {"builtins.eval": len}
    assert restricted_unpickle(io.BytesIO(pickle.dumps(CallsEval())), allowed_extra=harmless) == 5
