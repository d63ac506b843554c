"""The command lines end to end: the main job, and every user error as one line, exit status 2."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from PIL import Image

from hadamard_min.io.model_files import SHIPPED_MODEL
from hadamard_min.io.weights import load_weights

ROOT = Path(__file__).resolve().parent.parent


def run_cli(module_args, cwd, env=None):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", *module_args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=300)


def assert_one_line_error(result, *words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_explain_with_no_arguments_writes_the_figure_and_json(tmp_path):
    result = run_cli(["hadamard_min.cli.explain", "--json", "result.json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    figure = Image.open(tmp_path / "explanation.png")
    assert figure.size[0] > 600 and numpy.asarray(figure).std() > 10
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["answer"] in result.stdout
    assert len(data["tokens"]) == len(data["token_z"]) > 1
    assert abs(sum(data["token_z"])) < 1e-6  # z-scores (eq. 11) have mean zero
    for path in data["maps"].values():  # every map, α included, at the image's size
        assert Image.open(tmp_path / path).size == (64, 64)
    assert data["probability"] == max(t["probability"] for t in data["top_k"])


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "mine.png"
    Image.fromarray(numpy.full((64, 64, 3), 200, numpy.uint8)).save(path)
    return path


def test_input_image_is_never_overwritten(tmp_path, image_file):
    before = image_file.read_bytes()
    result = run_cli(["hadamard_min.cli.explain", "--image", str(image_file), "--question", "what shape is it?",
                      "--out", str(image_file)], cwd=tmp_path)
    assert_one_line_error(result, "input image")
    assert image_file.read_bytes() == before


@pytest.mark.parametrize("case", ["missing-image", "not-an-image", "empty-question", "missing-weights",
                                  "corrupt-weights", "no-gpu"])
def test_user_errors_are_one_line(tmp_path, image_file, case):
    args = ["hadamard_min.cli.explain", "--out", str(tmp_path / "out.png")]
    words = []
    if case == "missing-image":
        args += ["--image", str(tmp_path / "nope.png")]
        words = ["not found", "nope.png"]
    elif case == "not-an-image":
        text = tmp_path / "notes.png"
        text.write_text("hello")
        args += ["--image", str(text)]
        words = ["notes.png"]
    elif case == "empty-question":
        args += ["--image", str(image_file), "--question", "  ?! "]
        words = ["empty"]
    elif case == "missing-weights":
        args += ["--weights", str(tmp_path / "none.npz")]
        words = ["not found", "none.npz"]
    elif case == "corrupt-weights":
        corrupt = tmp_path / "model.npz"
        data = bytearray(SHIPPED_MODEL.read_bytes())
        data[len(data) // 2] ^= 0xFF
        corrupt.write_bytes(bytes(data))
        (tmp_path / "model.json").write_text(SHIPPED_MODEL.with_suffix(".json").read_text())
        args += ["--weights", str(corrupt)]
        words = ["corrupt", "sha256"]
    else:
        from hadamard_min.core import backend
        if backend.cupy is not None:
            pytest.skip("CuPy is installed here: --device gpu may work")
        args += ["--device", "gpu"]
        words = ["GPU"]
    result = run_cli(args, cwd=tmp_path)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "out.png").exists()


def test_train_refuses_to_overwrite_and_resume_needs_a_checkpoint(tmp_path):
    out = tmp_path / "model.npz"
    out.write_bytes(b"precious")
    result = run_cli(["hadamard_min.cli.train", "--out", str(out)], cwd=tmp_path)
    assert_one_line_error(result, "--force")
    assert out.read_bytes() == b"precious"
    result = run_cli(["hadamard_min.cli.train", "--out", str(tmp_path / "other.npz"), "--resume"], cwd=tmp_path)
    assert_one_line_error(result, "checkpoint")


def test_train_quick_run_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "quick.npz"
    common = ["hadamard_min.cli.train", "--out", str(out), "--limit-images", "48", "--batch-images", "16"]
    first = run_cli(common + ["--epochs", "2", "--stop-after", "1"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    checkpoint = tmp_path / "quick.checkpoint.npz"
    assert checkpoint.exists() and (tmp_path / "quick.json").exists()
    manifest = json.loads((tmp_path / "quick.json").read_text())
    assert len(manifest["history"]) == 1 and manifest["sha256"]  # stopped after 1 of 2 epochs
    first_seconds = manifest["training_seconds"]
    assert "epoch 1/2" in first.stderr and "epoch 2/2" not in first.stderr
    second = run_cli(common + ["--epochs", "2", "--resume", "--force"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    manifest = json.loads((tmp_path / "quick.json").read_text())
    assert [h["epoch"] for h in manifest["history"]] == [1, 2]
    assert "epoch 2/2" in second.stderr and "epoch 1/2" not in second.stderr
    assert f"after {first_seconds:.0f} s of training\n" in first.stdout
    assert f"after {manifest['training_seconds']:.0f} s of training in all, the runs resumed" in second.stdout
    # the paused and resumed run is the run without the pause, to the last bit (batch order and dropout included)
    whole = run_cli(common[:2] + [str(tmp_path / "whole.npz")] + common[3:] + ["--epochs", "2"], cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    resumed, straight = load_weights(out), load_weights(tmp_path / "whole.npz")
    assert resumed.keys() == straight.keys() and all(numpy.array_equal(resumed[k], straight[k]) for k in resumed)
    for option in (["--seed", "5"], ["--lr", "0.01"], ["--batch-images", "8"], ["--clip", "1"]):
        given = common[:-2] if option[0] == "--batch-images" else common  # each option given once
        other = run_cli(given + ["--epochs", "2", "--resume", *option], cwd=tmp_path)
        assert_one_line_error(other, f"{option[0]} ", "start again without --resume")
