"""A file's type is checked before its first byte is read: a FIFO would block every reader for ever, and a link
to ``/dev/zero`` would never end. Every reader (a model and its manifest, weights of each format, a checkpoint,
a vocabulary, a saved explanation, a data folder's listing and masks) opens through ``io.limits.open_regular`` and
refuses both in one line; a mask is not taken for no mask.

Each call runs under an alarm, so that a regression fails the test instead of hanging the suite.
"""
import contextlib
import os
import shutil
import signal

import pytest
from hostile_helpers import run_main

from hadamard_min.cli.evaluate import main as evaluate_main
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.port import main as port_main
from hadamard_min.cli.train import main as train_main
from hadamard_min.data.folder import load_folder
from hadamard_min.data.images import ImageError
from hadamard_min.explain.result import Explanation
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.model_files import SHIPPED_MODEL, load_model
from hadamard_min.io.porting import read_names

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                                reason="needs FIFOs and /dev/zero")


@contextlib.contextmanager
def within(seconds=20):
    """Fail with TimeoutError when the block takes longer than ``seconds`` (a blocked read)."""
    def expire(signum, frame):
        raise TimeoutError(f"still reading after {seconds} s: the file's type was not checked before reading")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def hostile(tmp_path, kind, name):
    """``tmp_path/name`` as a FIFO or as a link to /dev/zero."""
    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    return path


def with_manifest(path):
    shutil.copy(SHIPPED_MODEL.with_suffix(".json"), path.with_suffix(".json"))
    return path


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_hadamard_explain_refuses_a_model_that_is_not_a_regular_file(tmp_path, capsys, photo, kind):
    model = with_manifest(hostile(tmp_path, kind, "f.npz"))
    with within():
        outcome = run_main(explain_main, ["--weights", model, "--image", photo, "--question", "what shape is it?",
                                          "--out", tmp_path / "out.png"], capsys)
    outcome.one_line_error("f.npz", "not a regular file")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_hadamard_evaluate_refuses_a_model_that_is_not_a_regular_file(tmp_path, capsys, kind):
    model = with_manifest(hostile(tmp_path, kind, "f.npz"))
    with within():
        outcome = run_main(evaluate_main, ["--weights", model, "--examples", "1", "--out", tmp_path / "report"],
                           capsys)
    outcome.one_line_error("f.npz", "not a regular file")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_manifest_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    shutil.copy(SHIPPED_MODEL, tmp_path / "model.npz")
    hostile(tmp_path, kind, "model.json")
    with within(), pytest.raises(WeightsError, match="not a regular file"):
        load_model(tmp_path / "model.npz")


@pytest.mark.parametrize("suffix", [".npz", ".safetensors", ".pth", ".bin"])
@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_hadamard_port_refuses_weights_that_are_not_a_regular_file(tmp_path, capsys, kind, suffix):
    source = hostile(tmp_path, kind, "w" + suffix)
    with within():
        outcome = run_main(port_main, [source, tmp_path / "out.npz"], capsys)
    outcome.one_line_error("not a regular file")
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_checkpoint_to_resume_that_is_not_a_regular_file_is_refused(tmp_path, capsys, kind):
    hostile(tmp_path, kind, "model.checkpoint.npz")
    with within():
        outcome = run_main(train_main, ["--out", tmp_path / "model.npz", "--epochs", "1", "--limit-images", "4",
                                        "--batch-images", "4", "--resume"], capsys)
    outcome.last_line_error("not a regular file")
    assert not (tmp_path / "model.npz").exists()


@pytest.mark.parametrize("name", ["vocab.json", "vocab.txt", "vocab.pickle"])
@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_vocabulary_that_is_not_a_regular_file_is_refused(tmp_path, kind, name):
    with within(), pytest.raises(WeightsError, match="not a regular file"):
        read_names(hostile(tmp_path, kind, name), "words")


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_saved_explanation_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    with within(), pytest.raises(WeightsError, match="not a regular file"):
        Explanation.load(hostile(tmp_path, kind, "e.npz"))


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_batch_file_that_is_not_a_regular_file_is_refused(tmp_path, capsys, kind):
    pairs = hostile(tmp_path, kind, "pairs.jsonl")
    with within():
        outcome = run_main(explain_main, ["--batch", pairs, "--out-dir", tmp_path / "out"], capsys)
    outcome.one_line_error("pairs.jsonl", "not a regular file")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_data_folder_whose_questions_are_not_a_regular_file_is_refused(tmp_path, capsys, photo, kind):
    (tmp_path / "data").mkdir()
    shutil.copy(photo, tmp_path / "data" / "a.png")
    hostile(tmp_path / "data", kind, "questions.jsonl")
    with within():
        outcome = run_main(evaluate_main, ["--data", tmp_path / "data", "--examples", "1", "--out",
                                           tmp_path / "report"], capsys)
    outcome.one_line_error("questions.jsonl", "not a regular file")  # not "has no questions.jsonl", nor waited on
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder", "link to nothing"])
def test_a_mask_that_is_not_a_regular_file_is_refused_not_taken_for_no_mask(tmp_path, capsys, photo, kind):
    """It was skipped as if the image had no mask: the evaluation ran for minutes, then left out the pointing
    game and mass in mask with a note."""
    data = tmp_path / "data"
    (data / "masks").mkdir(parents=True)
    shutil.copy(photo, data / "a.png")
    (data / "questions.jsonl").write_text('{"image": "a.png", "question": "what shape is it?"}\n')
    if kind == "folder":
        (data / "masks" / "a.png").mkdir()
    elif kind == "link to nothing":
        (data / "masks" / "a.png").symlink_to(tmp_path / "nothing.png")
    else:
        hostile(data / "masks", kind, "a.png")
    with within(), pytest.raises((WeightsError, ImageError), match=r"masks/a\.png"):
        load_folder(data)
    with within():
        outcome = run_main(evaluate_main, ["--data", data, "--examples", "1", "--out", tmp_path / "report"], capsys)
    outcome.one_line_error("masks/a.png")
    assert not (tmp_path / "report").exists()
