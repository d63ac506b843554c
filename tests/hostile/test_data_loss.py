"""Class 3, data loss: no command may replace an input, another output, or an earlier result it was not
asked to replace, and a write that fails or is killed leaves every file as it was and nothing new.

Every test takes the checksums of every file in its folder before the command and compares them after.
"""
import os
import shutil

import pytest
from crafted import good_checkpoint
from hostile_helpers import FAULTY_DISK, run_child, run_main, snapshot, write_photo

from hadamard_min.cli.evaluate import main as evaluate_main
from hadamard_min.cli.exercises import main as exercises_main
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.port import main as port_main
from hadamard_min.cli.train import main as train_main
from hadamard_min.io.model_files import SHIPPED_MODEL

QUESTION = ["--question", "what shape is in the image?"]
QUICK_TRAINING = ["--epochs", "1", "--limit-images", "4", "--batch-images", "4"]


@pytest.mark.parametrize("suffix", ["_heatmap", "_pixel_map", "_alpha1", "_alpha2"])
def test_a_side_map_never_replaces_the_input_image(tmp_path, capsys, suffix):
    image = write_photo(tmp_path / f"photo{suffix}.png")
    before = snapshot(tmp_path)

    outcome = run_main(explain_main, ["--image", image, *QUESTION, "--out", tmp_path / "photo.png",
                                      "--json", tmp_path / "j.json"], capsys)

    outcome.one_line_error(image.name)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("option", ["--json", "--out"])
@pytest.mark.parametrize("link", ["hard link", "symbolic link"])
def test_an_output_that_is_a_link_to_the_input_is_refused(tmp_path, capsys, photo, option, link):
    target = tmp_path / ("result.json" if option == "--json" else "figure.png")
    os.link(photo, target) if link == "hard link" else target.symlink_to(photo)
    outputs = {"--out": tmp_path / "other.png", option: target}
    before = snapshot(tmp_path)

    outcome = run_main(explain_main, ["--image", photo, *QUESTION, *[x for pair in outputs.items() for x in pair]],
                       capsys)

    outcome.one_line_error(target.name)
    assert snapshot(tmp_path) == before


def test_two_outputs_on_one_file_are_refused(tmp_path, capsys, photo):
    before = snapshot(tmp_path)

    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "s.png",
                                      "--json", tmp_path / "s.png"], capsys)

    outcome.one_line_error("s.png")
    assert snapshot(tmp_path) == before


def test_training_never_replaces_an_earlier_runs_checkpoint(tmp_path, capsys):
    (tmp_path / "model.checkpoint.npz").write_bytes(b"the checkpoint of an earlier run")
    before = snapshot(tmp_path)

    outcome = run_main(train_main, ["--out", tmp_path / "model.npz", *QUICK_TRAINING], capsys)

    outcome.one_line_error("model.checkpoint.npz", "--resume", "--force")
    assert snapshot(tmp_path) == before


def test_training_never_replaces_a_file_where_its_manifest_goes(tmp_path, capsys):
    (tmp_path / "model.json").write_text("notes that happen to share the model's name")
    before = snapshot(tmp_path)

    outcome = run_main(train_main, ["--out", tmp_path / "model.npz", *QUICK_TRAINING], capsys)

    outcome.one_line_error("model.json", "--force")
    assert snapshot(tmp_path) == before


def test_port_never_writes_through_a_link_to_its_source(tmp_path, capsys):
    source = tmp_path / "source.pth"
    source.write_bytes(good_checkpoint())
    os.link(source, tmp_path / "copy.npz")
    before = snapshot(tmp_path)

    outcome = run_main(port_main, [source, tmp_path / "copy.npz", "--force"], capsys)

    outcome.one_line_error("copy.npz")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["port", "train"])
def test_a_link_to_nothing_where_an_output_goes_is_yours_too(tmp_path, capsys, command):
    """A symbolic link whose target does not exist is still something of the user's: refused without --force
    (it was replaced by a regular file)."""
    source = tmp_path / "source.pth"
    source.write_bytes(good_checkpoint())
    (tmp_path / "out.npz").symlink_to(tmp_path / "elsewhere" / "nothing.npz")
    argv = [source, tmp_path / "out.npz"] if command == "port" else ["--out", tmp_path / "out.npz", *QUICK_TRAINING]
    outcome = run_main(port_main if command == "port" else train_main, argv, capsys)
    outcome.one_line_error("out.npz", "--force")
    assert (tmp_path / "out.npz").is_symlink() and os.readlink(tmp_path / "out.npz").endswith("nothing.npz")


@pytest.mark.parametrize("option", ["--out", "--json", "--out-dir", "evaluate --out", "exercises start"])
def test_a_link_to_nothing_is_named_as_such_and_left_as_it_is(tmp_path, capsys, photo, option):
    """The explain outputs replaced such a link with a figure or a JSON; the folders said "File exists"."""
    link = tmp_path / {"--out": "link.png", "--json": "link.json"}.get(option, "link")
    link.symlink_to(tmp_path / "elsewhere" / "nothing")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"image": "photo.png", "question": "what shape is it?"}\n')
    main, argv = {
        "--out": (explain_main, ["--image", photo, *QUESTION, "--out", link]),
        "--json": (explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "e.png", "--json", link]),
        "--out-dir": (explain_main, ["--batch", pairs, "--out-dir", link]),
        "evaluate --out": (evaluate_main, ["--examples", "1", "--out", link]),
        "exercises start": (exercises_main, ["start", link])}[option]
    outcome = run_main(main, argv, capsys)
    outcome.one_line_error("is a link to nothing")
    assert link.is_symlink() and os.readlink(link).endswith("nothing") and not (tmp_path / "e.png").exists()


def faulty(tmp_path, fault, after):
    return {"HOSTILE_FOLDER": str(tmp_path), "HOSTILE_FAULT": fault, "HOSTILE_AFTER": str(after)}


def test_a_disk_that_fills_while_explain_writes_leaves_every_file_as_it_was(tmp_path, photo):
    command = ["hadamard_min.cli.explain", "--image", photo, *QUESTION, "--out", "figure.png", "--json", "j.json"]
    run_child(command, tmp_path, env=faulty(tmp_path, "count", 0), prelude=FAULTY_DISK).success()
    total = int((tmp_path / ".written").read_text())
    (tmp_path / ".written").unlink()
    (tmp_path / "j.json").write_text('{"answer": "the result of an earlier run"}')
    before = snapshot(tmp_path)

    # the same run again (the same figure and maps), on a disk that fills 10 bytes before the end: the JSON
    outcome = run_child(command, tmp_path, env=faulty(tmp_path, "enospc", total - 10), prelude=FAULTY_DISK)

    assert snapshot(tmp_path) == before
    outcome.one_line_error("No space left on device", "j.json")


def test_a_disk_that_fills_while_training_leaves_nothing_behind(tmp_path):
    before = snapshot(tmp_path)

    outcome = run_child(["hadamard_min.cli.train", "--out", "model.npz", *QUICK_TRAINING], tmp_path,
                        env=faulty(tmp_path, "enospc", 1000), prelude=FAULTY_DISK)

    assert snapshot(tmp_path) == before
    outcome.last_line_error("No space left on device", "model.checkpoint.npz")


@pytest.mark.parametrize("fault", ["kill", "term"])
def test_a_write_killed_halfway_leaves_the_old_file_and_no_stray_file(tmp_path, fault):
    (tmp_path / "source.pth").write_bytes(good_checkpoint())
    (tmp_path / "ported.npz").write_bytes(b"the result of an earlier run")
    before = snapshot(tmp_path)

    outcome = run_child(["hadamard_min.cli.port", "source.pth", "ported.npz", "--force"], tmp_path,
                        env=faulty(tmp_path, fault, 100), prelude=FAULTY_DISK)

    assert outcome.code == {"kill": -9, "term": 143}[fault] and "Traceback" not in outcome.err, outcome
    assert snapshot(tmp_path) == before  # SIGTERM: 128 + 15, the temporary file removed first


def test_the_json_never_replaces_the_models_manifest(tmp_path, capsys, photo):
    shutil.copy(SHIPPED_MODEL, tmp_path / "model.npz")
    shutil.copy(SHIPPED_MODEL.with_suffix(".json"), tmp_path / "model.json")
    before = snapshot(tmp_path)

    outcome = run_main(explain_main, ["--weights", tmp_path / "model.npz", "--image", photo, *QUESTION,
                                      "--out", tmp_path / "o.png", "--json", tmp_path / "model.json"], capsys)

    outcome.one_line_error("model.json")
    assert snapshot(tmp_path) == before
