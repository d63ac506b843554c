"""Parked filters (``fast/frozen.py``): while a model frozen by ``freeze()`` runs its inference forms, its
convolutions' own filters wait in an unlinked temporary file, mapped read-only; every read still gives the
same values, and anything that may change the weights brings them back into memory, writable. Filters stay
in memory where parking would save nothing or cost the process its open files."""
import copy
import resource
import sys

import numpy
import pytest
from test_fast_path import passes
from test_resnet import small_resnet

import hadamard_min as hm
from hadamard_min import Tensor, no_grad
from hadamard_min.fast import frozen
from hadamard_min.nn.layers import Conv2d

pytestmark = pytest.mark.usefixtures("cpu_forms")


@pytest.fixture
def park_everything(monkeypatch):
    monkeypatch.setattr(frozen, "PARK_BYTES", 0)  # the test models' filters are small: park them all


def convolutions(model):
    return [m for _, m in model.named_modules() if isinstance(m, Conv2d)]


def run(model, rng):
    x, seed = rng.standard_normal((1, 3, 16, 16)), rng.standard_normal((1, 5))
    dtype = model.parameters()[0].dtype
    return passes(model, x.astype(dtype), seed.astype(dtype))


def frozen_and_run(dtype=numpy.float64):
    model = small_resnet(numpy.random.default_rng(0), dtype).freeze()
    return model, run(model, numpy.random.default_rng(1))


def test_a_frozen_model_parks_its_filters_and_computes_the_same_bits(park_everything, monkeypatch):
    model, parked_results = frozen_and_run()
    assert all(isinstance(c.weight.data, numpy.memmap) for c in convolutions(model))
    assert not any(c.weight.data.flags.writeable for c in convolutions(model))
    monkeypatch.setattr(frozen, "PARK_BYTES", numpy.inf)
    kept, kept_results = frozen_and_run()
    assert not any(isinstance(c.weight.data, numpy.memmap) for c in convolutions(kept))
    for parked, ours in zip(parked_results, kept_results):
        numpy.testing.assert_array_equal(parked, ours)
    for name, array in kept.state_dict().items():
        numpy.testing.assert_array_equal(model.state_dict()[name], array, err_msg=name)
    with hm.fast(False):  # the reference ops read the parked filters themselves
        for parked, ours in zip(run(model, numpy.random.default_rng(1)), run(kept, numpy.random.default_rng(1))):
            numpy.testing.assert_array_equal(parked, ours)


@pytest.mark.parametrize("change", ["train", "unfreeze", "load", "astype", "frozen block"])
def test_whatever_may_change_the_weights_brings_them_back_writable(park_everything, change):
    model, _ = frozen_and_run()
    before = {name: numpy.array(array) for name, array in model.state_dict().items()}
    if change == "frozen block":  # leaving ``with model.frozen():`` keeps a frozen model frozen
        with model.frozen():
            run(model, numpy.random.default_rng(1))
        assert all(isinstance(c.weight.data, numpy.memmap) for c in convolutions(model))
        model.requires_grad_(True)
    else:
        {"train": model.train, "unfreeze": lambda: model.requires_grad_(True), "astype": lambda: model.astype(
            numpy.float64), "load": lambda: model.load_state_dict(model.state_dict())}[change]()
    for conv in convolutions(model):
        assert type(conv.weight.data) is numpy.ndarray and conv.weight.data.flags.writeable
        conv.weight.data[...] += 0  # writable in fact, not only by its flag
    for name, array in model.state_dict().items():
        numpy.testing.assert_array_equal(array, before[name], err_msg=name)


def test_where_no_temporary_file_can_be_written_the_filters_stay_in_memory(park_everything, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(frozen.tempfile, "TemporaryFile", no_space)
    model, results = frozen_and_run()
    assert all(type(c.weight.data) is numpy.ndarray for c in convolutions(model))
    monkeypatch.undo()
    for parked, ours in zip(frozen_and_run()[1], results):
        numpy.testing.assert_array_equal(parked, ours)


def test_small_and_parked_arrays_are_left_as_they_are():
    small = numpy.ones(frozen.PARK_BYTES // 8 - 1)
    assert frozen.park(small) is small and frozen.unpark(small) is small
    large = numpy.arange(frozen.PARK_BYTES // 4, dtype=numpy.float32).reshape(64, -1)
    parked = frozen.park(large)
    assert isinstance(parked, numpy.memmap) and parked.shape == large.shape and parked.dtype == large.dtype
    numpy.testing.assert_array_equal(parked, large)
    assert frozen.park(parked) is parked
    back = frozen.unpark(parked)
    assert type(back) is numpy.ndarray and back.flags.writeable and back.flags.c_contiguous
    numpy.testing.assert_array_equal(back, large)
    turned = large.T                                  # not contiguous: parked in its own order of values
    numpy.testing.assert_array_equal(frozen.park(turned), turned)


def test_a_parked_float32_model_saves_the_weights_it_was_given(park_everything, tmp_path):
    model, _ = frozen_and_run(numpy.float32)
    assert all(isinstance(c.weight.data, numpy.memmap) for c in convolutions(model))
    hm.io.weights.save_weights(tmp_path / "w.npz", model.state_dict())
    again = small_resnet(numpy.random.default_rng(0)).load_state_dict(hm.io.weights.load_weights(tmp_path / "w.npz"))
    again.freeze()
    with no_grad():
        x = Tensor(numpy.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(numpy.float32))
        with hm.fast(False):
            numpy.testing.assert_array_equal(model(x).data, again(x).data)


def test_a_model_frozen_only_for_a_block_or_without_park_keeps_its_filters_in_memory(park_everything):
    model = small_resnet(numpy.random.default_rng(0), numpy.float64)
    with model.frozen():  # the block's end would bring them back at once
        inside = run(model, numpy.random.default_rng(1))
        assert all(type(c.weight.data) is numpy.ndarray for c in convolutions(model))
    kept = small_resnet(numpy.random.default_rng(0), numpy.float64).freeze(park=False)
    for ours, theirs in zip(run(kept, numpy.random.default_rng(1)), inside):
        numpy.testing.assert_array_equal(ours, theirs)
    assert all(type(c.weight.data) is numpy.ndarray for c in convolutions(kept))


def test_a_temporary_folder_in_memory_parks_nothing(park_everything, monkeypatch):
    monkeypatch.setattr(frozen, "file_system", lambda folder, mounts: "tmpfs")
    model, _ = frozen_and_run()
    assert all(type(c.weight.data) is numpy.ndarray for c in convolutions(model))


def test_the_file_system_of_a_folder_is_that_of_the_longest_mount_point_above_it():
    mounts = ("/dev/vda / ext4 rw 0 0\n"
              "tmpfs /tmp tmpfs rw 0 0\n"
              "/dev/vdb /tmp/disk ext4 rw 0 0\n"
              "tmpfs /tmp/disk tmpfs rw 0 0\n"       # mounted over the one before: the later one counts
              "/dev/vdc /tmpfiles xfs rw 0 0\n"
              "/dev/vdd /my\\040files btrfs rw 0 0\n"
              "broken line\n")
    assert frozen.file_system("/tmp", mounts) == "tmpfs"
    assert frozen.file_system("/tmp/x/y", mounts) == "tmpfs"
    assert frozen.file_system("/tmpfiles/x", mounts) == "xfs"      # not inside /tmp
    assert frozen.file_system("/tmp/disk/x", mounts) == "tmpfs"
    assert frozen.file_system("/var/tmp", mounts) == "ext4"
    assert frozen.file_system("/my files/t", mounts) == "btrfs"


def test_parking_stops_once_open_files_reach_a_quarter_of_the_limit(park_everything, monkeypatch):
    in_use = len(frozen.os.listdir("/proc/self/fd"))
    monkeypatch.setattr(resource, "getrlimit", lambda which: (4 * in_use, 4 * in_use))
    model, _ = frozen_and_run()
    assert all(type(c.weight.data) is numpy.ndarray for c in convolutions(model))
    monkeypatch.setattr(resource, "getrlimit", lambda which: (4 * in_use + 4 * 5, 4 * in_use + 20))
    model, _ = frozen_and_run()                       # room for about five
    parked = sum(isinstance(c.weight.data, numpy.memmap) for c in convolutions(model))
    assert 0 < parked < len(convolutions(model)) == 12


def test_copies_and_a_users_own_maps_are_not_taken_for_parked_arrays(park_everything, tmp_path):
    model, _ = frozen_and_run()
    twin = copy.deepcopy(model)                       # its filters: copies in memory, of the memmap type
    assert all(not frozen._is_parked(c.weight.data) for c in convolutions(twin))
    mine = numpy.memmap(tmp_path / "mine.bin", dtype=numpy.float32, mode="w+", shape=(frozen.PARK_BYTES,))
    assert frozen.unpark(mine) is mine                 # left on its file, writable
    assert frozen._is_parked(frozen.park(twin.blocks()[0].conv1.weight.data))


def test_without_the_unix_resource_module_nothing_is_parked_and_nothing_fails(park_everything, monkeypatch):
    monkeypatch.setitem(sys.modules, "resource", None)  # as on Windows: ``import resource`` raises ImportError
    model, results = frozen_and_run()
    assert all(type(c.weight.data) is numpy.ndarray for c in convolutions(model))
    monkeypatch.undo()
    for ours, theirs in zip(results, frozen_and_run()[1]):
        numpy.testing.assert_array_equal(ours, theirs)
