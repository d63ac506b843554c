"""Ctrl-C and SIGTERM at the edges of a command: while Python imports the package (the first part of a second)
and after the work has returned. Each console command starts in ``hadamard_min_launch``, which installs the
handlers before anything heavy is imported and keeps them to the end: a signal is one line and status 128 + the signal
(130 for Ctrl-C, 143 for SIGTERM), or,
once the work has returned, the work's own status; never death by the signal, never a traceback.

The commands run as their console scripts do (``from hadamard_min_launch import port; sys.exit(port())``);
signals are sent at random times, a few per run, so that a regression shows up as a failure, not as a hang.
"""
import os
import random
import signal
import subprocess
import sys
import time

import numpy
import pytest
from hostile_helpers import ROOT

import hadamard_min_launch
from hadamard_min.io.npz import save_weights
from hadamard_min.io.weights import load_weights
from hadamard_min.parallel import RESULTS_PREFIX

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# What pip's console script does, with a first line that tells the test Python runs: the test waits for it.
CONSOLE = ("import os, sys\n{prelude}\nos.write(2, b'started\\n')\n"
           "from hadamard_min_launch import {command}\nsys.exit({command}())")
# After the work: an exit handler that says so and then takes a moment (as the interpreter's own clean-up can).
SLOW_EXIT = "import atexit, time\natexit.register(lambda: (os.write(2, b'exiting\\n'), time.sleep(0.5)))"


def start(command, args, cwd, prelude="", blas_threads=1):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": str(blas_threads), "NO_COLOR": "1"}
    child = subprocess.Popen([sys.executable, "-c", CONSOLE.format(prelude=prelude, command=command),
                              *map(str, args)], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stderr.readline() == b"started\n"
    return child


@pytest.fixture
def port_job(tmp_path):
    save_weights(tmp_path / "w.npz", {"a": numpy.arange(6, dtype=numpy.float32).reshape(2, 3)})
    return tmp_path, ["w.npz", "out.npz"]


@pytest.mark.parametrize("trial", range(4))
def test_a_signal_while_the_package_is_imported_is_128_plus_the_signal_and_one_line(port_job, trial):
    folder, args = port_job
    signum = (signal.SIGTERM, signal.SIGINT)[trial % 2]
    delay = random.Random().uniform(0.03, 0.6)  # importing the package takes about this long
    child = start("port", args, folder)
    time.sleep(delay)
    child.send_signal(signum)
    out, err = child.communicate(timeout=120)
    err = err.decode(errors="replace")
    assert child.returncode in (0, 128 + signum), (signum, delay, child.returncode, err)
    assert "Traceback" not in err, err
    if child.returncode == 128 + signum:
        assert err.strip().splitlines()[-1] == "hadamard-port: interrupted", err
    else:  # the work was done before the signal came
        assert b"wrote 1 tensors" in out
    if (folder / "out.npz").exists():  # written whole or not at all
        assert load_weights(folder / "out.npz")["a"].tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("blas_threads", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_after_the_work_has_returned_leaves_the_works_status(port_job, signum, blas_threads):
    """With two BLAS threads the signal goes to OpenBLAS's thread, which does not block it: ignored, not held."""
    folder, args = port_job
    child = start("port", args, folder, prelude=SLOW_EXIT, blas_threads=blas_threads)
    assert child.stderr.readline() == b"exiting\n"
    child.send_signal(signum)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0 and b"wrote 1 tensors" in out, (child.returncode, err)
    assert b"Traceback" not in err and load_weights(folder / "out.npz")["a"].shape == (2, 3)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_handlers_are_installed_before_the_command_is_imported(monkeypatch, capsys, signum):
    seen = {}

    def importing(name):
        seen["handlers"] = [signal.getsignal(signum) for signum in hadamard_min_launch.SIGNALS]
        os.kill(os.getpid(), signum)  # Ctrl-C or SIGTERM while importing: the launcher's handler raises here

    monkeypatch.setattr(hadamard_min_launch.importlib, "import_module", importing)
    handlers = [signal.getsignal(signum) for signum in hadamard_min_launch.SIGNALS]
    try:
        assert hadamard_min_launch.explain() == 128 + signum  # 130 or 143, as a shell reports the signal
    finally:
        for signum, handler in zip(hadamard_min_launch.SIGNALS, handlers):
            signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, hadamard_min_launch.SIGNALS)
    assert seen["handlers"] == [hadamard_min_launch.interrupt] * 2
    assert capsys.readouterr().err.strip() == "hadamard-explain: interrupted"


def test_every_console_command_starts_in_the_launcher():
    tomllib = pytest.importorskip("tomllib", reason="tomllib comes with Python 3.11")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, function = target.split(":")
        assert module == "hadamard_min_launch", name
        assert callable(getattr(hadamard_min_launch, function)), name


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_after_another_command_printed_its_version_leaves_status_0(tmp_path, signum):
    child = start("explain", ["--version"], tmp_path, prelude=SLOW_EXIT)
    assert child.stderr.readline() == b"exiting\n"
    child.send_signal(signum)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0 and out.startswith(b"hadamard-explain "), (child.returncode, err)
    assert b"Traceback" not in err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the processes left in /proc")
def test_a_stopped_bench_leaves_no_worker_and_no_file(tmp_path):
    """SIGTERM to hadamard-bench while its side's two workers run: each side is stopped (its own workers end
    and its result files go with it), not killed; nothing outlives the command."""
    pytest.importorskip("easy_vqa", reason="the bench's explanations read easy-VQA (the data extra)")
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    before = set(os.listdir(shm)) if shm else set()
    mark = str(random.randrange(2000, 3000))  # the question count: finds this test's processes among all
    args = ["--explain-rate", "--workers", "2", "--questions", mark, "--runs", "4", "--warmup", "0", "--no-torch"]
    child = start("bench", args, tmp_path)
    while b"run 1/4" not in (line := child.stderr.readline()):
        assert line, "the bench ended before its first run"
    time.sleep(0.5)  # within run 2, the workers busy
    ours = [pid for pid in os.listdir("/proc") if pid.isdigit() and f"\0--questions\0{mark}\0" in _cmdline(pid)]
    if shm:  # the side's folder for its workers' results is named after it
        deadline = time.monotonic() + 5
        while not any(name.startswith(f"{RESULTS_PREFIX}{pid}-") for pid in ours for name in os.listdir(shm)):
            assert time.monotonic() < deadline, (ours, os.listdir(shm))
            time.sleep(0.005)
    child.send_signal(signal.SIGTERM)
    err = child.communicate(timeout=120)[1]
    assert child.returncode == 143 and err.strip().splitlines()[-1] == b"hadamard-bench: interrupted", err
    time.sleep(0.5)
    alive = [pid for pid in os.listdir("/proc") if pid.isdigit() and f"\0--questions\0{mark}\0" in _cmdline(pid)]
    assert alive == [], [_cmdline(pid) for pid in alive]
    if shm:  # the folders of this bench's processes (another test run's may come and go meanwhile)
        left = {name for name in set(os.listdir(shm)) - before if name.startswith(RESULTS_PREFIX)}
        assert not {name for name in left if name.split("-")[2] in ours}, left


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""
