"""A model file replaced between its sha256 check and its parse: the verified bytes load, or nothing does."""
import hashlib
import os
import shutil
import types

import numpy
import pytest

from hadamard_min.io import model_files
from hadamard_min.io.model_files import SHIPPED_MODEL, ModelFileError, load_model
from hadamard_min.io.npz import load_npz_metadata, save_weights
from hadamard_min.io.weights import load_weights


def _verified_and_other(tmp_path):
    """A copy of the shipped model with its manifest, and a model file the manifest does not verify."""
    path = tmp_path / SHIPPED_MODEL.name
    shutil.copyfile(SHIPPED_MODEL, path)
    shutil.copyfile(SHIPPED_MODEL.with_suffix(".json"), path.with_suffix(".json"))
    arrays = load_weights(path)
    name = next(key for key, array in arrays.items() if array.dtype.kind == "f")
    arrays[name] = arrays[name] + 1.0
    other = tmp_path / "other.npz"
    save_weights(other, arrays, load_npz_metadata(path))
    return path, other, name


def _swap_after_hashing(monkeypatch, swap):
    """Make the hash, once computed, run ``swap`` before the loader goes on to parse."""
    class Digest:
        def __init__(self):
            self.inner = hashlib.sha256()

        def update(self, block):
            self.inner.update(block)

        def hexdigest(self):
            swap()
            return self.inner.hexdigest()

    monkeypatch.setattr(model_files, "hashlib", types.SimpleNamespace(sha256=Digest))


def test_a_file_renamed_over_the_model_after_its_check_is_not_loaded(tmp_path, monkeypatch):
    path, other, name = _verified_and_other(tmp_path)
    expected = load_weights(path)[name]
    _swap_after_hashing(monkeypatch, lambda: os.replace(other, path))
    model = load_model(path)
    numpy.testing.assert_array_equal(model.state_dict()[name], expected)


def test_a_file_rewritten_in_place_after_its_check_is_refused(tmp_path, monkeypatch):
    path, other, _ = _verified_and_other(tmp_path)
    data = other.read_bytes() + b"\0" * 64  # in place (as cp does), and no longer the same size
    _swap_after_hashing(monkeypatch, lambda: path.write_bytes(data))
    with pytest.raises(ModelFileError, match="rewritten while it was loaded"):
        load_model(path)
