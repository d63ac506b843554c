"""Probes of the installed wheel, as a new user meets it: no torch, and an image whose header alone is too large.
Each message names what is true of hadamard-min, not of the source tree or of Pillow's own defaults."""
import struct
import subprocess
import sys

import pytest
from hostile_helpers import ROOT, run_main
from image_files import chunk

from hadamard_min.cli import bench
from hadamard_min.cli.explain import main as explain
from hadamard_min.data.images import MAX_PIXELS, ImageError, load_image


def _header_only_png(path, width, height):
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [10_000, 100_000])  # past Pillow's warning (89 Mpx), past its error (179 Mpx)
def test_a_header_beyond_pillows_own_limit_names_the_limit_read_here(tmp_path, capsys, side):
    """Pillow refuses these before our header check: its message named its limit (178,956,970 pixels), so a
    user who scaled the image down to just under it was refused again, by the 67,108,864 read here."""
    path = _header_only_png(tmp_path / "huge.png", side, side)
    with pytest.raises(ImageError, match=f"more than the {MAX_PIXELS:,} pixels read at most") as refused:
        load_image(path)
    assert "178956970" not in str(refused.value) and "89478485" not in str(refused.value)
    run_main(explain, ["--image", path, "--question", "what shape?", "--out", tmp_path / "e.png"], capsys) \
        .one_line_error("huge.png", f"{MAX_PIXELS:,}")
    assert not (tmp_path / "e.png").exists()


def test_explain_torch_without_torch_names_the_extra_to_install():
    """A wheel installed without extras: ``from hadamard_min.torch_explain import explain_torch`` said only
    "No module named 'torch'", not which extra brings it."""
    code = ("import sys; sys.modules['torch'] = None\n"  # as if torch were not installed
            "try:\n    from hadamard_min.torch_explain import explain_torch\n"
            "except ModuleNotFoundError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "pip install 'hadamard-min[torch]'" in done.stdout, done.stdout


def test_bench_without_torch_says_how_to_install_it_from_a_wheel(monkeypatch, capsys):
    """``pip install '.[parity]'`` works only in a source checkout; an installed hadamard-bench names the
    package."""
    monkeypatch.setattr(bench, "_torch_available", lambda: False)
    monkeypatch.setattr(bench, "compare", lambda args, with_torch: (None, None))
    monkeypatch.setattr(bench, "report", lambda *args: "report")
    assert bench.main(["--size", "32", "--depth", "50", "--runs", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "pip install 'hadamard-min[parity]'" in out and "'.[parity]'" not in out, out


@pytest.mark.parametrize("target", ["loop.png", "missing.png"])
def test_an_image_that_is_a_link_to_nothing_is_named_as_such_not_as_missing(tmp_path, capsys, monkeypatch, target):
    """``ls`` lists a link in a loop, or to a missing file; "image not found" sent the user looking for a file that
    is there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop.png").symlink_to(target)
    run_main(explain, ["--image", "loop.png", "--question", "what shape?", "--out", "e.png"], capsys) \
        .one_line_error("loop.png", "symbolic link")
    assert not (tmp_path / "e.png").exists()
