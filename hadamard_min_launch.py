"""The console commands' first code: Ctrl-C and SIGTERM are caught before anything heavy is imported.

Importing ``hadamard_min`` (NumPy, matplotlib, the models) takes a good part of a second. A command's entry
point is a function here, in a module outside the package that imports only ``signal`` and ``sys``: it installs
the handlers, then imports its command and runs it, and keeps the handlers to the end. A SIGINT or SIGTERM
while importing or working ends the command with one line and the shell's status for that signal, 128 + its
number: 130 for Ctrl-C, 143 for SIGTERM, so that a caller (a job scheduler, a script) can tell "you stopped it"
from "it was stopped" (files being written are removed, as :mod:`hadamard_min.io.atomic` does on any error);
one that arrives after the work has returned is ignored: the process exits with the work's own status.
"""
import importlib
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)  # SIGTERM last: once it is caught, both are


def interrupt(signum, frame):
    """Both signals raise KeyboardInterrupt, so that every ``except``/``finally`` that cleans up on Ctrl-C does on
    SIGTERM too; the signal's number rides in its args for :func:`interrupted_status`."""
    raise KeyboardInterrupt(signum)


def interrupted_status(error):
    """The exit status for a KeyboardInterrupt: 128 + the signal's number (the shell's convention). One raised
    by :func:`interrupt` carries its signal; Python's own (Ctrl-C with the default handler) carries none: SIGINT."""
    signum = error.args[0] if error.args and isinstance(error.args[0], int) else signal.SIGINT
    return 128 + int(signum)


def _hold_signals():
    """Hold further SIGINT/SIGTERM: the process ends with the status decided, not by the signal. Blocked in
    this thread and ignored: another thread (OpenBLAS's) would take a blocked signal, and Python puts the
    default action back at exit, except where the handler is SIG_IGN."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def launch(command, prog, argv=None):
    """Run ``hadamard_min.cli.<command>.main(argv)`` with the handlers installed first; its exit status."""
    for signum in SIGNALS:
        signal.signal(signum, interrupt)
    try:
        return importlib.import_module(f"hadamard_min.cli.{command}").main(argv)
    except KeyboardInterrupt as error:
        _hold_signals()
        if sys.stderr is not None:
            print(f"\n{prog}: interrupted", file=sys.stderr)
        return interrupted_status(error)
    finally:  # the status is decided (returned, or SystemExit from --help, --version or a usage error)
        _hold_signals()


def explain():
    return launch("explain", "hadamard-explain")


def train():
    return launch("train", "hadamard-train")


def port():
    return launch("port", "hadamard-port")


def bench():
    return launch("bench", "hadamard-bench")


def evaluate():
    return launch("evaluate", "hadamard-evaluate")


def saliency():
    return launch("saliency", "hadamard-saliency")


def exercises():
    return launch("exercises", "hadamard-exercises")
