"""Lesson 10 in its quick mode: the hand-written grounded map equals the library's, and every number is a rate."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "lessons" / "10_does_it_follow_the_question.py"


def test_lesson_10_runs_and_its_numbers_hold_together(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    result = subprocess.run([sys.executable, str(LESSON), "--pairs", "8"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    by_hand = float(re.search(r"max \|difference\| / max\s+(\S+)", out).group(1))
    assert by_hand < 1e-5                                       # float32 rounding of one and the same sum
    through_alpha = float(re.search(r"went through α\s+(\S+)", out).group(1))
    assert 0.0 < through_alpha < 2.0                            # the α path is there, and bounded
    rates = re.findall(r"^  (grounded|hadamard|attention α2)\s+([\d.]+) \[([\d.]+), ([\d.]+)\]\s+([\d.]+)", out,
                       re.MULTILINE)
    assert {name for name, *_ in rates} == {"grounded", "hadamard", "attention α2"}
    for _, mean, low, high, other in rates:
        assert 0.0 <= float(low) <= float(mean) <= float(high) <= 1.0 and 0.0 <= float(other) <= 1.0
    assert out.count("grounded − ") == 4
    assert not any(tmp_path.iterdir())                          # it writes nothing
