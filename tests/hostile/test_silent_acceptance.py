"""Class 5, no silent acceptance and no misleading words: a request that makes no sense is refused, saying
what is wrong; one that makes sense is not refused; and no message points at the wrong cause.
"""
import hashlib
import json
import shutil

import pytest
from crafted import safetensors
from hostile_helpers import run_main, snapshot

from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.port import main as port_main
from hadamard_min.cli.train import main as train_main
from hadamard_min.data.text import QuestionError
from hadamard_min.explain.methods import explain
from hadamard_min.io.model_files import SHIPPED_MODEL, load_model
from hadamard_min.io.porting import PortError, read_names

QUESTION = ["--question", "what shape is in the image?"]


@pytest.mark.parametrize("argument", [["--epochs", "0"], ["--stop-after", "-1"], ["--lr", "nan"], ["--lr", "-0.1"],
                                      ["--lr", "inf"]])
def test_training_that_cannot_learn_is_refused_before_it_writes(tmp_path, capsys, argument):
    outcome = run_main(train_main, ["--out", tmp_path / "m.npz", "--limit-images", "4", "--batch-images", "4",
                                    *argument], capsys)
    outcome.one_line_error(argument[0])
    assert list(tmp_path.iterdir()) == []


def test_a_weight_file_without_tensors_is_not_ported(tmp_path, capsys):
    (tmp_path / "empty.safetensors").write_bytes(safetensors({"__metadata__": {"format": "pt"}}))

    outcome = run_main(port_main, [tmp_path / "empty.safetensors", tmp_path / "out.npz"], capsys)

    outcome.one_line_error("no tensors")
    assert not (tmp_path / "out.npz").exists()


@pytest.fixture
def model_copy(tmp_path):
    shutil.copy(SHIPPED_MODEL, tmp_path / "model.npz")
    return tmp_path / "model.npz"


def manifest_with(path, **fields):
    manifest = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())
    manifest.update(fields)
    for key in [key for key, value in fields.items() if value is KeyError]:
        del manifest[key]
    path.with_suffix(".json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("sha256", [KeyError, None, "", "not a digest", "ab" * 31])
def test_a_manifest_without_a_usable_sha256_never_loads_the_model_unverified(tmp_path, capsys, photo, model_copy,
                                                                             sha256):
    manifest_with(model_copy, sha256=sha256)
    before = snapshot(tmp_path)

    outcome = run_main(explain_main, ["--weights", model_copy, "--image", photo, *QUESTION,
                                      "--out", tmp_path / "o.png"], capsys)

    outcome.one_line_error("sha256", "model.json")
    assert snapshot(tmp_path) == before


def test_an_upper_case_sha256_is_the_same_digest(model_copy):
    manifest_with(model_copy, sha256=hashlib.sha256(model_copy.read_bytes()).hexdigest().upper())
    assert load_model(model_copy).answers


@pytest.mark.parametrize("content", [b"these are not weights\n", b"\x93NUMPY fake", b""])
def test_a_file_that_is_not_an_npz_is_not_given_numpys_advice(tmp_path, capsys, photo, content):
    (tmp_path / "weights.npz").write_bytes(content)

    outcome = run_main(explain_main, ["--weights", tmp_path / "weights.npz", "--image", photo, *QUESTION,
                                      "--out", tmp_path / "o.png"], capsys)

    line = outcome.one_line_error("weights.npz")
    assert "allow_pickle" not in line and "pickled" not in line


def test_an_output_that_is_a_folder_is_named_as_such(tmp_path, capsys, photo):
    (tmp_path / "figure.png").mkdir()

    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "figure.png"], capsys)

    line = outcome.one_line_error("figure.png", "folder")
    assert ".tmp" not in line


def test_json_dash_means_stdout(tmp_path, capsys, photo, monkeypatch):
    monkeypatch.chdir(tmp_path)

    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", "o.png", "--json", "-"], capsys)

    outcome.success()
    assert json.loads(outcome.out)["tokens"][:2] == ["what", "shape"]
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("option", [["--resnet", "r.pth"], ["--mlb", "MLB.t7"], ["--vocab", "v.json"],
                                    ["--mlb-sizes", "glimpses=2"]])
def test_an_option_of_the_preset_without_the_preset_is_refused(tmp_path, capsys, photo, option):
    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "o.png", *option], capsys)

    outcome.one_line_error(option[0], "--preset")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("question", [None, 42, b"what shape?"])
def test_a_question_that_is_not_text_is_a_question_error(photo, question):
    with pytest.raises(QuestionError, match="str"):
        explain(load_model(), photo, question)


@pytest.mark.parametrize("mapping", [{"1": 5}, {"1": 2, "2": 1}, {"10": 11, "11": 12}])
def test_a_vocabulary_of_numbers_on_both_sides_is_called_ambiguous(tmp_path, mapping):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(mapping))

    with pytest.raises(PortError) as error:
        read_names(path, "words")
    assert "start at" not in str(error.value) and "numbers" in str(error.value)
