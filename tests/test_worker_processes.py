"""Worker processes stay within the machine: at most one per core, and none outlives its parent, even one
killed by SIGKILL."""
import os
import signal
import time

import pytest

from hadamard_min.parallel import cores, map_chunks

ORPHANS = """
import os, signal, sys, threading, time
from hadamard_min.parallel import map_chunks

def work(folder, chunk):
    open(os.path.join(folder, str(os.getpid())), "w").close()
    time.sleep(60)
    return chunk

folder = sys.argv[1]
threading.Thread(target=lambda: list(map_chunks(work, folder, range(4), workers=2)), daemon=True).start()
while len(os.listdir(folder)) < 2:
    time.sleep(0.05)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="prctl's parent-death signal is Linux's")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    """A parent killed by SIGKILL cannot stop its workers; they waited on its queue for ever."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "pids").mkdir()
    with open(tmp_path / "stderr", "w") as stderr:  # not a pipe: the workers would hold it open
        done = subprocess.run([sys.executable, "-c", ORPHANS, str(tmp_path / "pids")], stdout=subprocess.DEVNULL,
                              stderr=stderr, env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert done.returncode == -signal.SIGKILL, (tmp_path / "stderr").read_text()[-2000:]
    workers = [int(name) for name in os.listdir(tmp_path / "pids")]
    deadline = time.monotonic() + 20

    def alive(pid):
        try:
            with open(f"/proc/{pid}/status") as status:
                return "\tZ" not in next(line for line in status if line.startswith("State:"))
        except FileNotFoundError:
            return False

    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert len(workers) == 2 and not left


def _pid_after_a_while(shared, chunk):
    time.sleep(0.3)  # long enough for every worker to take a chunk
    return os.getpid()


def test_no_more_workers_than_cores_are_started():
    """--workers 1000 started one process per chunk, up to 1,024, on a 2-core machine (4.2 GB for 60)."""
    pids = set(map_chunks(_pid_after_a_while, None, range(cores() + 3), workers=1000))
    assert 1 <= len(pids) <= cores() and (cores() == 1 or os.getpid() not in pids)
