"""A fresh pass of hostile inputs, errors: every user error is one line on stderr and exit status 2, with what
it quotes (a file name holding an ESC, a BEL, a newline, bytes that are not UTF-8) written as escapes, never
sent to the terminal raw; and the inputs that looked like an image or a data listing but were not."""
import json
import os

import pytest
from hostile_helpers import run_main
from PIL import Image

from hadamard_min.cli.evaluate import main as evaluate
from hadamard_min.cli.explain import main as explain
from hadamard_min.cli.port import main as port
from hadamard_min.data.images import ImageError, load_image
from hadamard_min.learner.__main__ import main as learner

QUESTION = ["--question", "what shape is in the image?"]
# A terminal title set, a bell, the screen cleared and recoloured: what a raw ESC in a message would do.
HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b[31mred"


def _escaped_line(outcome, name):
    line = outcome.one_line_error()
    assert line.isprintable(), ascii(line)
    assert name.encode("unicode_escape").decode("ascii") in line, line
    return line


@pytest.mark.parametrize("command, argv", [
    (explain, ["--image", f"{HOSTILE}.png", *QUESTION, "--out", "out.png"]),
    (explain, ["--weights", f"{HOSTILE}.npz", "--image", "photo.png", *QUESTION, "--out", "out.png"]),
    (explain, ["--out", f"{HOSTILE}.jpg"]),
    (port, [f"{HOSTILE}.pth", "out.npz"]),
    (evaluate, ["--data", HOSTILE]),
    (learner, [HOSTILE]),
], ids=["explain --image", "explain --weights", "explain --out", "port", "evaluate --data", "learner"])
def test_a_file_name_with_escape_sequences_is_one_escaped_line(tmp_path, capsys, monkeypatch, photo, command, argv):
    monkeypatch.chdir(tmp_path)
    _escaped_line(run_main(command, argv, capsys), HOSTILE)


def test_an_argument_error_quotes_what_was_typed_escaped(capsys):
    """argparse's own messages (an unknown option, here) go through the same escaping."""
    _escaped_line(run_main(explain, [f"--{HOSTILE}"], capsys), HOSTILE)


def test_a_name_that_is_not_utf8_is_escaped_in_the_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"\xff\xfe\x1b[31m.png")
    line = _escaped_line(run_main(explain, ["--image", name, *QUESTION, "--out", "out.png"], capsys), name)
    assert "\\udcff\\udcfe\\x1b[31m.png" in line


@pytest.mark.parametrize("image, words", [(".", "not an image file"), ("/", "outside the folder")])
def test_a_data_listing_that_names_a_folder_as_an_image_is_one_line(tmp_path, capsys, photo, image, words):
    """The mask's name comes from the image's: '.' and '/' have none, and pathlib raised ValueError. ('/' is also
    outside the folder, which is said first.)"""
    data = tmp_path / "data"
    data.mkdir()
    (data / "questions.jsonl").write_text(json.dumps({"image": image, "question": "what shape is it?"}) + "\n")
    outcome = run_main(evaluate, ["--data", data, "--out", tmp_path / "out", "--examples", "1"], capsys)
    outcome.one_line_error("questions.jsonl line 1", words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size", [(0, 0), (1, 0), (0, 7)])
def test_an_empty_pil_image_is_refused_as_an_empty_array_is(size):
    with pytest.raises(ImageError, match="empty"):
        load_image(Image.new("RGB", size))


def test_a_fifo_named_as_the_image_is_refused_at_once(tmp_path, capsys):
    """Pinned: a pipe given as --image is refused before anything opens it (it would block for ever)."""
    os.mkfifo(tmp_path / "pipe.png")
    run_main(explain, ["--image", tmp_path / "pipe.png", *QUESTION, "--out", tmp_path / "out.png"],
             capsys).one_line_error("pipe.png")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("target", ["example", "exercise"])
def test_the_learners_figure_never_replaces_what_the_run_reads(tmp_path, capsys, target):
    """--out a link to the shipped example image the run explains, or to one of the learner's exercise files
    (a link, so that a regression replaces the link, not the package's image)."""
    from hadamard_min.data.example import EXAMPLE_IMAGE

    exercise = tmp_path / "ex02_unbroadcast.py"
    exercise.write_text("# my exercise\n")
    out = tmp_path / "figure.png"
    out.symlink_to(EXAMPLE_IMAGE if target == "example" else exercise)
    before = out.read_bytes()
    run_main(learner, [tmp_path, "--out", out], capsys).one_line_error("--out", "the same file as the input")
    assert out.is_symlink() and out.read_bytes() == before


def test_an_image_swapped_for_a_pipe_after_its_check_is_refused_unread(tmp_path, monkeypatch):
    """The image's type was checked by name (``is_file``) and the file then opened by name again: a pipe put in
    its place meanwhile was read. Here the name check is made to pass for a pipe, whose writer sends a PNG."""
    import pathlib
    import threading
    import time

    pipe = tmp_path / "swapped.png"
    os.mkfifo(pipe)
    Image.new("RGB", (8, 8)).save(tmp_path / "real.png")
    png = (tmp_path / "real.png").read_bytes()

    def writer():  # opens the pipe's other end once a reader is there, for at most 0.5 s
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                handle = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                time.sleep(0.01)
                continue
            os.set_blocking(handle, True)
            try:
                os.write(handle, png)
            except OSError:  # the reader went away unread: what should happen
                pass
            os.close(handle)
            return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    monkeypatch.setattr(pathlib.Path, "is_file", lambda self: True)  # the file was regular when checked
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(pipe)
    thread.join(3)
