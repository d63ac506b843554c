"""Parked filters (``fast/frozen.py``): while a frozen model runs its inference forms, its convolutions' own
filters wait in an unlinked temporary file, mapped read-only; every read still gives the same values, and
anything that may change the weights brings them back into memory, writable."""
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
    if change == "frozen block":  # a model frozen only inside ``with model.frozen():``
        model = small_resnet(numpy.random.default_rng(0), numpy.float64)
        with model.frozen():
            run(model, numpy.random.default_rng(1))
            assert all(isinstance(c.weight.data, numpy.memmap) for c in convolutions(model))
        before = {n: a.copy() for n, a in small_resnet(numpy.random.default_rng(0), numpy.float64).state_dict().items()}
    else:
        model, _ = frozen_and_run()
        before = {name: numpy.array(array) for name, array in model.state_dict().items()}
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
