"""Lesson 4 on the trained network: its figures go to its output folder, never to the current one, and its
own comparison table (predictions, parity with PyTorch, the sanity check) passes. Needs the optional
ImageNet weights: skipped without them, a failure under HADAMARD_REQUIRE_IMAGENET=1."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hadamard_min.io.weights import WeightsError
from hadamard_min.models.efficientnet import lite0_weights_file

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "lessons" / "04_resnet152_guided_backprop.py"
FIGURES = ("methods_on_photos.png", "cascading_randomisation.png")


def test_lesson_04_writes_its_figures_into_its_output_folder(tmp_path):
    try:
        lite0_weights_file()
    except WeightsError as error:
        if os.environ.get("HADAMARD_REQUIRE_IMAGENET") == "1":
            pytest.fail(f"HADAMARD_REQUIRE_IMAGENET=1 but {error}")
        pytest.skip(f"the optional ImageNet weights are absent: {error}")
    here, out = tmp_path / "here", tmp_path / "figures"
    here.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    result = subprocess.run([sys.executable, str(LESSON), "--out", str(out)], cwd=here, env=env,
                            capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert sorted(os.listdir(out)) == sorted(FIGURES)
    assert os.listdir(here) == []
    assert "cascading randomisation" in result.stdout and "espresso" in result.stdout
