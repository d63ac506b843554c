"""``hadamard-train --resume`` with another --width or --joint-dim than the checkpoint's: one line naming the option."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def train(tmp_path, *options):
    command = [sys.executable, "-m", "hadamard_min.cli.train", "--out", str(tmp_path / "m.npz"), "--limit-images",
               "10", "--epochs", "2", *options]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})


@pytest.mark.parametrize("sizes, resumed, option", [
    (["--width", "2", "--joint-dim", "3"], ["--joint-dim", "3"], "--width 2, not 16"),
    (["--width", "2", "--joint-dim", "3"], ["--width", "2"], "--joint-dim 3, not 128")])
def test_resume_with_other_sizes_names_the_option(tmp_path, sizes, resumed, option):
    assert train(tmp_path, *sizes, "--stop-after", "1").returncode == 0
    result = train(tmp_path, *resumed, "--resume")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert option in lines[0] and "start again without --resume" in lines[0], lines[0]
