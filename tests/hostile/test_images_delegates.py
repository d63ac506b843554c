"""Images, class 1: no program outside Python ever decodes an image. Pillow recognises PostScript and EPS by
their content, whatever the file's name, and hands them to Ghostscript; every command and the notebook API
open images as PNG, JPEG, GIF, BMP, TIFF, WebP or PPM only. Fake delegates (gs, convert, magick, …) on PATH
record any run; each crafted file must be refused in one line (a batch skips its line) with none run."""
import json
import os

import numpy
import pytest
from hostile_helpers import run_main
from PIL import EpsImagePlugin, Image

import hadamard_min as hm
from hadamard_min.cli.evaluate import main as evaluate
from hadamard_min.cli.explain import main as explain
from hadamard_min.cli.saliency import main as saliency
from hadamard_min.data.images import ImageError, load_image
from hadamard_min.io.weights import save_weights
from hadamard_min.models.efficientnet import EfficientNetLite

DELEGATES = ("gs", "gsx", "gswin32c", "gswin64c", "convert", "magick", "pdftoppm", "inkscape", "rsvg-convert")
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\nnewpath 0 0 moveto showpage\n%%EOF\n"
CRAFTED = {
    "EPS": EPS,
    "EPS with a DOS header": (b"\xc5\xd0\xd3\xc6" + (32).to_bytes(4, "little") + len(EPS).to_bytes(4, "little")
                              + bytes(20) + EPS),
    "PDF": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    "PostScript": b"%!PS\n%%BoundingBox: 0 0 8 8\n/Times findfont 12 scalefont setfont 0 0 moveto (x) show\n",
}


@pytest.fixture
def delegates(tmp_path, monkeypatch):
    """Fake delegate programs first on PATH; returns the file each appends its command line to."""
    folder, log = tmp_path / "bin", tmp_path / "delegates.log"
    folder.mkdir()
    for name in DELEGATES:
        program = folder / name
        program.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 0\n')
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # Pillow looks for gs again, on this PATH
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", None)
    return log


def ran(log):
    return log.read_text() if log.exists() else ""


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "lite0_random.npz"
    save_weights(path, EfficientNetLite(rng=numpy.random.default_rng(3)).state_dict())
    return path


def crafted(tmp_path, kind):
    path = tmp_path / "x.png"
    path.write_bytes(CRAFTED[kind])
    return path


def test_the_fake_gs_is_what_pillow_runs_when_left_to_itself(tmp_path, delegates):
    """The harness can see a run: Pillow opening the EPS with every format allowed runs the fake gs."""
    with pytest.raises(OSError):  # the fake gs writes no picture
        with Image.open(crafted(tmp_path, "EPS")) as image:
            image.load()
    assert ran(delegates).startswith("gs "), ran(delegates)


@pytest.mark.parametrize("kind", CRAFTED)
def test_explain_image_refuses_and_runs_nothing(tmp_path, capsys, delegates, kind):
    outcome = run_main(explain, ["--image", crafted(tmp_path, kind), "--question", "what shape is it?",
                                 "--out", tmp_path / "e.png"], capsys)
    outcome.one_line_error("x.png", "not an image file")
    assert ran(delegates) == "" and not (tmp_path / "e.png").exists()


@pytest.mark.parametrize("kind", ["EPS", "PDF"])
def test_saliency_refuses_and_runs_nothing(tmp_path, capsys, delegates, lite0, kind):
    outcome = run_main(saliency, [crafted(tmp_path, kind), "--weights", lite0, "--out", tmp_path / "s.png"], capsys)
    outcome.one_line_error("x.png", "not an image file")
    assert ran(delegates) == ""


def test_evaluate_data_refuses_and_runs_nothing(tmp_path, capsys, delegates):
    data = tmp_path / "data"
    data.mkdir()
    crafted(data, "EPS")
    (data / "questions.jsonl").write_text('{"image": "x.png", "question": "what shape is it?"}\n')
    outcome = run_main(evaluate, ["--data", data, "--out", tmp_path / "report", "--examples", "1"], capsys)
    outcome.one_line_error("x.png", "not an image file")
    assert ran(delegates) == "" and not (tmp_path / "report").exists()


def test_batch_skips_the_line_and_runs_nothing(tmp_path, capsys, delegates, photo):
    crafted(tmp_path, "EPS")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"image": name, "question": "what shape is it?"}) + "\n"
                             for name in ("x.png", "photo.png")))
    outcome = run_main(explain, ["--batch", pairs, "--out-dir", tmp_path / "out"], capsys)
    assert outcome.code == 1 and not outcome.escaped, outcome
    skipped = [line for line in outcome.err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "line 1" in skipped[0] and "not an image file" in skipped[0], outcome.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0002.png", "results.jsonl"]
    assert ran(delegates) == ""


def test_the_notebook_api_refuses_a_path_and_a_pillow_image(tmp_path, delegates):
    path = crafted(tmp_path, "EPS")
    with pytest.raises(ImageError, match="not an image file"):
        hm.explain(hm.load_model(), str(path), "what shape is it?")
    with Image.open(path) as opened:  # the user's own Image.open: identified as EPS, not decoded yet
        with pytest.raises(ImageError, match="is EPS, not a format read here"):
            load_image(opened)
    assert ran(delegates) == ""
