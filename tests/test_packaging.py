"""The wheel carries every package and the shipped models, and ``load_model`` finds them wherever it runs.

The folder weights/ of the checkout is the package ``hadamard_min.shipped`` of the wheel (pyproject.toml), and
lessons/exercises/ is ``hadamard_min.exercises`` (``hadamard-exercises start`` copies it).
.ci/run builds the wheel, installs it in a fresh virtual environment and runs ``hadamard-explain`` there.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hadamard_min.io.model_files import SHIPPED_MODEL, SHIPPED_TWO_SHAPE_MODEL, WEIGHTS_FOLDER

ROOT = Path(__file__).resolve().parent.parent


def pyproject_file():
    """The whole pyproject.toml as a dict (a skip before Python 3.11, which brought tomllib)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib comes with Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pyproject():
    return pyproject_file()["tool"]["setuptools"]


def test_every_package_folder_is_in_the_wheel():
    packages = sorted(".".join(path.parent.relative_to(ROOT).parts)
                      for path in (ROOT / "hadamard_min").rglob("__init__.py"))
    assert sorted(pyproject()["packages"]) == sorted([*packages, "hadamard_min.shipped", "hadamard_min.exercises",
                                                      "hadamard_min.exercises.solutions"])


def test_the_shipped_models_are_the_package_data_of_hadamard_min_shipped():
    settings = pyproject()
    assert settings["package-dir"] == {"hadamard_min.shipped": "weights", "hadamard_min.exercises": "lessons/exercises"}
    patterns = settings["package-data"]["hadamard_min.shipped"]
    shipped = sorted(path.name for pattern in patterns for path in (ROOT / "weights").glob(pattern))
    assert shipped == ["easyvqa_mlb.json", "easyvqa_mlb.npz", "twoshape_mlb.json", "twoshape_mlb.npz"]


def test_a_checkout_loads_the_models_from_weights():
    assert WEIGHTS_FOLDER == ROOT / "weights"
    assert SHIPPED_MODEL.is_file() and SHIPPED_TWO_SHAPE_MODEL.is_file()


def test_an_installed_package_loads_the_models_it_carries(tmp_path):
    """The wheel's layout, site-packages/hadamard_min/shipped/, with no checkout in sight."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "hadamard_min", site / "hadamard_min", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "weights", site / "hadamard_min" / "shipped", ignore=shutil.ignore_patterns("*.md"))
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    code = ("import hadamard_min, hadamard_min.io.model_files as c; m = hadamard_min.load_model(); "
            "print(c.WEIGHTS_FOLDER, len(m.answers))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", code], cwd=empty, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(site / "hadamard_min" / "shipped"), "13"]
