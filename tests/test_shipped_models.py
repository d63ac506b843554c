"""The shipped models: their files match their manifests, and they answer as well as the manifests say."""
import json

import pytest

from hadamard_min.data.easyvqa import load_easy_vqa
from hadamard_min.data.twoshape import load_two_shape
from hadamard_min.io.model_files import SHIPPED_MODEL, SHIPPED_TWO_SHAPE_MODEL, ModelFileError, load_model, sha256_of
from hadamard_min.training.train import accuracy_by_type, predict

CASES = [(SHIPPED_MODEL, load_easy_vqa, 0.97), (SHIPPED_TWO_SHAPE_MODEL, load_two_shape, 0.90)]


@pytest.mark.parametrize("path, dataset, target", CASES, ids=["easy-vqa", "two-shape"])
def test_shipped_model_reproduces_its_test_accuracy(path, dataset, target):
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert sha256_of(path) == manifest["sha256"]
    model = load_model(path)
    test = dataset("test")
    accuracy = accuracy_by_type(test, predict(model, test), model.answers)
    assert accuracy["overall"] >= target
    assert accuracy["overall"] == pytest.approx(manifest["test_accuracy"]["overall"], abs=1e-9)
    for kind in ("yes/no", "color", "shape"):
        assert accuracy[kind] == pytest.approx(manifest["test_accuracy"][kind], abs=1e-9)


def test_a_changed_byte_is_caught_by_the_sha256(tmp_path):
    copy = tmp_path / SHIPPED_MODEL.name
    data = bytearray(SHIPPED_MODEL.read_bytes())
    data[100] ^= 1
    copy.write_bytes(bytes(data))
    (tmp_path / SHIPPED_MODEL.with_suffix(".json").name).write_text(SHIPPED_MODEL.with_suffix(".json").read_text())
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(copy)
