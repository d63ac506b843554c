"""Helpers of the hostile-input tests: run a command in this process or in a child with limits, and check
the README's promises on what came back (one line on stderr and status 2; inputs unchanged)."""
import hashlib
import os
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# hadamard-train's arguments for a run of 3 epochs stopped after 1 (the stopped_run fixture; --resume drops
# --stop-after, STOPPED_RUN[2:4])
STOPPED_RUN = ["--epochs", "3", "--stop-after", "1", "--limit-images", "4", "--batch-images", "4"]


@dataclass
class Outcome:
    code: object      # exit status, or None when an exception escaped
    out: str
    err: str
    escaped: str = ""  # the traceback of an exception that escaped the command

    def one_line_error(self, *words):
        """Status 2, exactly one line on stderr, no traceback, and each of ``words`` in that line."""
        lines = self.err.strip().splitlines()
        assert self.code == 2 and not self.escaped and len(lines) == 1, (self.code, self.err, self.escaped)
        assert "Traceback" not in self.err, self.err
        for word in words:
            assert word in lines[0], lines[0]
        return lines[0]

    def last_line_error(self, *words):
        """Status 2, no traceback, and the error as the last line (after a command's progress lines)."""
        lines = self.err.strip().splitlines()
        assert self.code == 2 and not self.escaped and "Traceback" not in self.err, (self.code, self.err)
        assert ": error: " in lines[-1] and sum(": error: " in line for line in lines) == 1, self.err
        for word in words:
            assert word in lines[-1], lines[-1]
        return lines[-1]

    def success(self):
        assert self.code == 0 and not self.escaped, (self.code, self.err, self.escaped)
        assert "Traceback" not in self.err, self.err
        return self


def run_main(main, argv, capsys):
    """A command's ``main(argv)`` in this process: its status, stdout, stderr (with the warnings it would have
    printed), and any exception that escaped it."""
    capsys.readouterr()
    code, escaped = None, ""
    with warnings.catch_warnings(record=True) as warned:  # a process would print them on stderr
        warnings.simplefilter("always")
        try:
            code = main([str(arg) if isinstance(arg, Path) else arg for arg in argv])
        except SystemExit as stop:
            code = stop.code
        except Exception:
            escaped = traceback.format_exc()
    captured = capsys.readouterr()
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, "") for w in warned)
    return Outcome(code, captured.out, shown + captured.err, escaped)


def run_child(args, cwd, env=None, limits=None, timeout=120, prelude=""):
    """``python -c prelude + run module args`` in a child; ``limits``: {resource name: soft=hard value}."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1", **(env or {})}

    def apply_limits():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file over RLIMIT_FSIZE: write() fails, nothing dies
        for name, value in (limits or {}).items():
            resource.setrlimit(getattr(resource, name), (value, value))

    code = prelude + "\nimport runpy, sys\nsys.argv = sys.argv[1:]\nrunpy.run_module(sys.argv[0], run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=environment, timeout=timeout,
                          capture_output=True, text=True, errors="backslashreplace", preexec_fn=apply_limits)
    return Outcome(done.returncode, done.stdout, done.stderr)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder):
    """{relative path: sha256} of every file under ``folder`` (inputs before and after a command)."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): sha256(path) for path in sorted(folder.rglob("*")) if path.is_file()}


def write_photo(path):
    """A 64×64 PNG to explain (a shape on a plain background); returns ``path``."""
    pixels = numpy.full((64, 64, 3), 230, numpy.uint8)
    pixels[20:44, 20:44] = (200, 30, 30)
    Image.fromarray(pixels).save(path)
    return path


# A disk that fails: run before a command in a child (``run_child(prelude=FAULTY_DISK)``). Every file opened
# for writing under $HOSTILE_FOLDER (by open() or os.fdopen(), whatever the command does with it) counts the
# bytes written to it; once $HOSTILE_AFTER bytes are written in all, the next write writes what still fits and
# then fails as $HOSTILE_FAULT says: "enospc" raises OSError(ENOSPC), as a full disk does; "kill" sends the
# process SIGKILL (nothing can clean up); "term" sends SIGTERM. "count" only counts and writes the total to
# $HOSTILE_FOLDER/.written at exit.
FAULTY_DISK = r'''
import atexit, builtins, errno, io, os, signal
_folder, _after, _fault = os.environ["HOSTILE_FOLDER"], int(os.environ["HOSTILE_AFTER"]), os.environ["HOSTILE_FAULT"]
_written = [0]

class _Failing:
    def __init__(self, file):
        self._file = file
    def write(self, data):
        room = _after - _written[0]
        if _fault != "count" and len(data) > room:
            self._file.write(data[:max(room, 0)])
            self._file.flush()
            if _fault == "enospc":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.kill(os.getpid(), signal.SIGKILL if _fault == "kill" else signal.SIGTERM)
        _written[0] += len(data)
        return self._file.write(data)
    def __getattr__(self, name):
        return getattr(self._file, name)
    def __enter__(self):
        self._file.__enter__()
        return self
    def __exit__(self, *exc):
        return self._file.__exit__(*exc)
    def __iter__(self):
        return iter(self._file)

def _ours(target):
    if isinstance(target, int):
        try:
            target = os.readlink(f"/proc/self/fd/{target}")
        except OSError:
            return False
    return os.path.abspath(os.fsdecode(target)).startswith(_folder)

def _wrap(opener, mode_at):
    def opened(target, *args, **kwargs):
        file = opener(target, *args, **kwargs)
        mode = kwargs.get("mode", args[mode_at - 1] if len(args) >= mode_at else "r")
        return _Failing(file) if any(c in mode for c in "wax+") and _ours(target) else file
    return opened

builtins.open = io.open = _wrap(io.open, 1)  # os.fdopen() calls io.open() too
if _fault == "count":
    atexit.register(lambda: open(os.path.join(_folder, ".written"), "x").write(str(_written[0])))
'''
