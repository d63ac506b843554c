"""Every numbered lesson runs top to bottom, exits with 0 and prints something.

Lessons are found by name (``lessons/NN_*.py``), so a new one is picked up without editing this file.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 60

# Per lesson file name, extra command-line arguments and environment variables for a quick mode under test,
# e.g. {"NN_name.py": {"args": ["--quick"], "env": {"NAME": "value"}}}.
LESSON_OPTIONS = {
    "07_train_and_watch.py": {"args": ["--quick"]},
    "08_reading_the_report.py": {"args": ["--quick"]},
}


def test_lessons_are_found():
    assert LESSONS, f"no lessons found in {ROOT / 'lessons'}"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_runs(lesson, tmp_path):
    options = LESSON_OPTIONS.get(lesson.name, {})
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **options.get("env", {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, str(lesson), *options.get("args", [])]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"{lesson.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert result.stdout.strip(), f"{lesson.name} printed nothing"
