"""The legacy (non-zip) torch checkpoint reader: it reads what torch writes, and refuses crafted files.

Refused without running or allocating anything: code in any of the pickles (a canary file must not
appear), storages that declare more bytes than the file holds, a storage record that contradicts its
persistent id, counted pickle opcodes that declare gigabytes, zero-stride views of gigantic size,
and tensors that would copy the storages many times over.
"""
import pickle
import subprocess
import sys
import tracemalloc

import numpy
import pytest
from legacy_torch_writer import Tensor, call, contiguous, global_, legacy_file, value

from hadamard_min.io.legacy_torch import load_legacy_torch, starts_with_magic_number
from hadamard_min.io.weights import UnsafePickleError, WeightsError, load_weights

MiB = 2 ** 20


@pytest.fixture
def arrays(rng):
    return {"conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32),
            "bn.running_mean": rng.standard_normal(4).astype(numpy.float64),
            "bn.num_batches_tracked": numpy.array(7, dtype=numpy.int64)}


def honest_file(arrays):
    storages = {str(k): a.reshape(-1) for k, a in enumerate(arrays.values())}
    tensors = [contiguous(name, str(k), a) for k, (name, a) in enumerate(arrays.items())]
    return tensors, storages


def write(tmp_path, data, name="model.pth"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def peak_mib(function, *args):
    """Run ``function(*args)`` (which must raise WeightsError) and return the peak of traced allocations."""
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError) as error:
            function(*args)
        return tracemalloc.get_traced_memory()[1] / MiB, str(error.value)
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------- honest files
def test_reads_a_hand_written_file_exactly(tmp_path, arrays):
    path = write(tmp_path, legacy_file(*honest_file(arrays)))
    loaded = load_weights(path)
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        numpy.testing.assert_array_equal(loaded[name], array)


def test_strided_views_and_old_storage_views(tmp_path, rng):
    storage = rng.standard_normal(30).astype(numpy.float32)
    tensors = [Tensor("transposed", "s", (3, 4), (1, 3)), Tensor("slice", "s", (5,), (2,), offset=7),
               Tensor("view", "s", (2, 3), (3, 1), view=("v", 10, 6))]
    loaded = load_legacy_torch(write(tmp_path, legacy_file(tensors, {"s": storage})))
    numpy.testing.assert_array_equal(loaded["transposed"], storage[:12].reshape(4, 3).T)
    numpy.testing.assert_array_equal(loaded["slice"], storage[7:17:2])
    numpy.testing.assert_array_equal(loaded["view"], storage[10:16].reshape(2, 3))


def test_the_hand_written_format_is_torchs(tmp_path, arrays, torch):
    """torch itself reads the writer's files the same: the writer writes the real format."""
    path = write(tmp_path, legacy_file(*honest_file(arrays)))
    theirs = torch.load(path, weights_only=True)
    for name, array in arrays.items():
        numpy.testing.assert_array_equal(theirs[name].numpy(), array)


def test_reads_what_torch_writes(tmp_path, torch):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    saved = {"w": base.t(), "slice": base[1:3, ::2], "tied": base, "half": torch.randn(5).half(),
             "bf16": torch.randn(3).bfloat16(), "long": torch.arange(3), "scalar": torch.tensor(2.5),
             "empty": torch.zeros(0, 3), "nested": {"bias": torch.ones(2, dtype=torch.float64)}}
    path = tmp_path / "legacy.pth"
    torch.save(saved, path, _use_new_zipfile_serialization=False)
    loaded = load_legacy_torch(path)
    for name, tensor in saved.items():
        got, tensor = (loaded[name]["bias"], tensor["bias"]) if name == "nested" else (loaded[name], tensor)
        expected = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        numpy.testing.assert_array_equal(got, expected)


def test_magic_number_is_recognised_by_content():
    assert starts_with_magic_number(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
    assert starts_with_magic_number(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=4))
    assert not starts_with_magic_number(pickle.dumps(0x1950A86A20F9469CFC6D, protocol=2))
    assert not starts_with_magic_number(pickle.dumps({"state_dict": 1}, protocol=2))
    assert not starts_with_magic_number(b"\x80\x02\x8a\x0a")


# ---------------------------------------------------------------------------------------- code execution
def system_call(canary):
    return call("os", "system", value(f"touch {canary}"))


CODE_PAYLOADS = {
    "os.system in the state dict": lambda c, t, s: legacy_file(t, s, extra=value("x") + system_call(c)),
    "builtins.eval in the state dict": lambda c, t, s: legacy_file(
        t, s, extra=value("x") + call("builtins", "eval", value(f"open({str(c)!r}, 'w')"))),
    "subprocess.Popen in the state dict": lambda c, t, s: legacy_file(
        t, s, extra=value("x") + call("subprocess", "Popen", value(("touch", str(c))))),
    "os.system as the rebuild function's target": lambda c, t, s: legacy_file(
        t, s, extra=value("x") + call("torch._tensor", "_rebuild_from_type_v2", global_("os", "system"),
                                      global_("torch", "Tensor"), value((f"touch {c}",)), value(None))),
    "os.system in the system information": lambda c, t, s: legacy_file(
        t, s, system=b"\x80\x02" + system_call(c) + b"."),
    "os.system in the storage key list": lambda c, t, s: legacy_file(
        t, s, keys=b"\x80\x02" + system_call(c) + b"."),
    "os.system instead of the magic number": lambda c, t, s: b"\x80\x02" + system_call(c) + b"." + legacy_file(t, s),
}


@pytest.mark.parametrize("payload", list(CODE_PAYLOADS))
def test_code_in_the_pickles_never_runs(payload, tmp_path, arrays):
    canary = tmp_path / "canary"
    path = write(tmp_path, CODE_PAYLOADS[payload](canary, *honest_file(arrays)))
    with pytest.raises(WeightsError) as error:
        load_weights(path)
    assert not canary.exists(), "the pickle ran code"
    if "magic" not in payload:
        assert isinstance(error.value, UnsafePickleError) and "refused" in str(error.value)


def test_a_module_persistent_id_is_refused(tmp_path, arrays):
    module_id = b"(" + value("module") + value("x") + value("y") + value("z") + value("w") + value(None) + b"tQ"
    with pytest.raises(WeightsError, match="persistent id"):
        load_legacy_torch(write(tmp_path, legacy_file(*honest_file(arrays), extra=value("m") + module_id)))


def test_port_refuses_a_crafted_file_in_one_line(tmp_path, arrays):
    canary, destination = tmp_path / "canary", tmp_path / "out.npz"
    path = write(tmp_path, CODE_PAYLOADS["os.system in the state dict"](canary, *honest_file(arrays)))
    result = subprocess.run([sys.executable, "-m", "hadamard_min.cli.port", str(path), str(destination)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and not canary.exists() and not destination.exists()
    assert result.stderr.count("\n") == 1 and "refused" in result.stderr and "Traceback" not in result.stderr


def test_port_converts_a_legacy_file(tmp_path, arrays):
    path, destination = write(tmp_path, legacy_file(*honest_file(arrays))), tmp_path / "out.npz"
    result = subprocess.run([sys.executable, "-m", "hadamard_min.cli.port", str(path), str(destination)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    converted = load_weights(destination)
    numpy.testing.assert_array_equal(converted["conv.weight"], arrays["conv.weight"])
    numpy.testing.assert_array_equal(converted["bn.running_mean"], arrays["bn.running_mean"].astype(numpy.float32))


# ---------------------------------------------------------------------------------------- size bombs
def test_storage_larger_than_the_file_is_refused_before_allocation(tmp_path, arrays):
    tensors, storages = honest_file(arrays)
    huge = 2 ** 40  # 4 TiB of float32, declared in the persistent id and in the record alike
    data = legacy_file(tensors, storages, declared={"0": huge}, counts={"0": huge})
    peak, message = peak_mib(load_weights, write(tmp_path, data))
    assert "declares" in message and "left in the file" in message
    assert peak < 8, f"{peak:.1f} MiB allocated"


def test_record_that_contradicts_its_persistent_id_is_refused(tmp_path, arrays):
    tensors, storages = honest_file(arrays)
    with pytest.raises(WeightsError, match="its pickle said"):
        load_weights(write(tmp_path, legacy_file(tensors, storages, counts={"0": 3})))


def test_truncated_storages_are_refused(tmp_path, arrays):
    data = legacy_file(*honest_file(arrays))
    with pytest.raises(WeightsError, match="truncated"):
        load_weights(write(tmp_path, data[:-20]))


def test_counted_opcode_declaring_gigabytes_is_refused_before_allocation(tmp_path, arrays):
    """BINBYTES8 that claims 4 GiB: Python's unpickler would allocate them before reading (as it does when
    handed such a pickle directly)."""
    bomb = value("x") + b"\x8e" + (2 ** 32).to_bytes(8, "little") + b"abc"
    peak, message = peak_mib(load_weights, write(tmp_path, legacy_file(*honest_file(arrays), extra=bomb)))
    assert "corrupt" in message
    assert peak < 8, f"{peak:.1f} MiB allocated"


def test_zero_stride_giant_view_is_refused_before_allocation(tmp_path):
    storages = {"s": numpy.ones(4, dtype=numpy.float32)}
    tensors = [Tensor("bomb", "s", (10 ** 6, 10 ** 6), (0, 0))]
    peak, message = peak_mib(load_weights, write(tmp_path, legacy_file(tensors, storages)))
    assert "zero-stride" in message
    assert peak < 8, f"{peak:.1f} MiB allocated"


def test_many_tensors_copying_one_storage_are_refused(tmp_path):
    storages = {"s": numpy.ones(2 ** 18, dtype=numpy.float32)}    # 1 MiB stored
    tensors = [Tensor(f"copy{k}", "s", (2 ** 18,), (1,)) for k in range(64)]
    peak, message = peak_mib(load_weights, write(tmp_path, legacy_file(tensors, storages)))
    assert "times the bytes" in message
    assert peak < 16, f"{peak:.1f} MiB allocated"


def test_tied_weights_are_still_read(tmp_path, rng):
    storage = rng.standard_normal(12).astype(numpy.float32)
    tensors = [Tensor("embedding", "s", (3, 4), (4, 1)), Tensor("decoder", "s", (3, 4), (4, 1))]
    loaded = load_weights(write(tmp_path, legacy_file(tensors, {"s": storage})))
    numpy.testing.assert_array_equal(loaded["embedding"], loaded["decoder"])


@pytest.mark.parametrize("problem", ["missing key", "extra key", "not a list"])
def test_key_list_must_match_the_storages(problem, tmp_path, arrays):
    keys = {"missing key": ["0", "1"], "extra key": ["0", "1", "2", "3"],
            "not a list": pickle.dumps({"0": 1}, protocol=2)}[problem]
    with pytest.raises(WeightsError, match="key list"):
        load_weights(write(tmp_path, legacy_file(*honest_file(arrays), keys=keys)))


def test_big_endian_files_are_refused(tmp_path, arrays):
    system = {"protocol_version": 1001, "little_endian": False, "type_sizes": {}}
    with pytest.raises(WeightsError, match="big-endian"):
        load_weights(write(tmp_path, legacy_file(*honest_file(arrays), system=system)))
