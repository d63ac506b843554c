"""The console commands' first code: Ctrl-C and SIGTERM are caught before anything heavy is imported.

Importing ``hadamard_min`` (NumPy, matplotlib, the models) takes a good part of a second. A command's entry
point is a function here, in a module outside the package that imports only ``signal`` and ``sys``: it installs
the handlers, then imports its command and runs it, and keeps the handlers to the end. A SIGINT or SIGTERM
while importing or working ends the command with one line and status 130 (files being written are removed,
as :mod:`hadamard_min.io.atomic` does on any error); one that arrives after the work has returned is
ignored: the process exits with the work's own status.
"""
import importlib
import signal
import sys

INTERRUPTED = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM)  # SIGTERM last: once it is caught, both are


def _interrupt(signum, frame):
    raise KeyboardInterrupt


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
        signal.signal(signum, _interrupt)
    try:
        return importlib.import_module(f"hadamard_min.cli.{command}").main(argv)
    except KeyboardInterrupt:
        _hold_signals()
        if sys.stderr is not None:
            print(f"\n{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
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
