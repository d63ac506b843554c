"""The one error handler of every command: a user's mistake is one line on stderr and exit status 2.

:class:`Parser` is argparse with its errors in that form too (no usage block), and :func:`run` wraps a command's
work: a user error (a bad file, path, argument or device, a full disk, too little memory for the input, a bad
``HADAMARD_DEVICE`` (unless ``--device`` is given), ``HADAMARD_FAST`` or ``HADAMARD_NUMBA``, checked first) is one
line, with each character that would drive the terminal or break the line (an ESC or a newline in a file's name)
escaped; Ctrl-C status 130 and SIGTERM 143 (128 + the signal, the shell's convention) after every temporary file is
gone; and whatever the command prints to stdout cannot fail on a name that is not UTF-8 (it is escaped). A standard
stream that was closed when the command started is read as /dev/null (what it would have shown is lost, the exit
status is not), except that a command whose product goes to stdout (``--json -``) is refused in one line when stdout
is closed. A reader that stops reading (``| head -1``) ends nothing: what is printed after is dropped, and the work
goes on. A note the library issues as a warning (:class:`frames.FramesWarning`: an animation explained from one
frame) is one ``note:`` line on stderr, each note once, and changes no exit status; Python's format
(``file:line: Category:`` and a line of source) is for a programmer, not for the user of a command.
"""
import argparse
import contextlib
import itertools
import logging
import os
import signal
import sys
import warnings

from hadamard_min.core.backend import DeviceError, environment_device
from hadamard_min.data.easyvqa import DataError
from hadamard_min.data.frames import FramesWarning
from hadamard_min.data.images import ImageError
from hadamard_min.data.text import QuestionError, VocabularyError
from hadamard_min.escapes import printable
from hadamard_min.fast import FastSwitchError
from hadamard_min.fast.switch import enabled as fast_path_enabled
from hadamard_min.fast.switch import numba_enabled
from hadamard_min.io.errors import WeightsError
from hadamard_min_launch import interrupt, interrupted_status  # one home for the signals' statuses

# A command's stderr holds its own lines: matplotlib's warnings (where HOME cannot be written, two lines on its
# cache folder before every figure) are not the user's to read, and would break the one-line rule.
logging.getLogger("matplotlib").setLevel(logging.ERROR)


class UsageError(ValueError):
    """A command's arguments do not make sense together (a user error)."""


# OSError: a missing file, a folder where a file should be, no permission, a full disk.
USER_ERRORS = (DeviceError, DataError, ImageError, QuestionError, VocabularyError, WeightsError, FastSwitchError,
               UsageError, OSError)


def escape_unencodable():
    """stdout and stderr write what their encoding cannot hold as escapes (``\\u2212``) instead of raising
    UnicodeEncodeError: under an ASCII locale (``LC_ALL=C PYTHONUTF8=0``) help and results still print."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


class _StoreOnce(argparse._StoreAction):
    """argparse's "store" for an option that takes a value, given at most once. argparse keeps the last of
    ``--out a.png --out b.png`` without a word: one of the two the user wrote is silently dropped (often the one
    a script put first on purpose). An option meant to be repeated says so (``action="append"``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(parser, "given_once", None)
        if self.option_strings and given is not None:
            if self in given:
                first, first_values = given[self]
                parser.error(f"{option_string} given twice ({first} {_shown(first_values)}, then {option_string} "
                             f"{_shown(values)}); give it once")
            given[self] = (option_string, values)
        super().__call__(parser, namespace, values, option_string)


def _shown(values):
    return " ".join(map(str, values)) if isinstance(values, list) else str(values)


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line, ``prog: error: message``, and exit status 2, whose
    ``--help`` prints under any locale (:func:`escape_unencodable` first), and that refuses an option that takes
    a value given twice (:class:`_StoreOnce`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in (None, "store"):  # argument groups and subcommands' parsers share or copy this registry
            self.register("action", name, _StoreOnce)

    def parse_args(self, args=None, namespace=None):
        escape_unencodable()
        self.given = sys.argv[1:] if args is None else [str(arg) for arg in args]  # for error()'s hints
        return super().parse_args(args, namespace)

    def parse_known_args(self, args=None, namespace=None):
        self.given_once = {}  # each parse its own: a subcommand's parser is parsed by its parent's
        return super().parse_known_args(args, namespace)

    def _print_message(self, message, file=None):
        """argparse's, but what --help or --version cannot write (> /dev/full) is an error, not lost silently
        with status 0 (argparse drops it; it was still in stdout's buffer when the process exited)."""
        file = file or sys.stderr
        try:
            if message:
                file.write(message)
                file.flush()
        except OSError as error:
            _to_devnull(file)  # nothing more to it, at exit either
            if isinstance(error, BrokenPipeError):  # | head -1: the reader left, as it may
                return
            name = "standard output" if file is sys.stdout else "standard error"
            with contextlib.suppress(OSError):
                sys.stderr.write(f"{self.prog}: error: {error.strerror or error}: {name}\n")
            raise SystemExit(2) from None

    def error(self, message):
        option = message.removeprefix("argument ").removesuffix(": expected one argument").split("/")[-1]
        given = getattr(self, "given", [])
        if message.endswith(": expected one argument") and any(  # a value began with '-' (not: no value, an option)
                len(word) > 2 and option.startswith(word) and following.startswith("-")
                and following.split("=")[0] not in self._option_string_actions
                for word, following in itertools.pairwise(given)):
            message += f" (a value that starts with '-' is written with '=': {option}=-value)"
        files = [word for word in given
                 if word.startswith("-") and word not in self._option_string_actions and os.path.isfile(word)]
        if files and message.startswith(("unrecognized arguments", "the following arguments are required")):
            message += f" ({files[0]} is a file: give it as ./{files[0]}, or after --)"  # read as an option
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


NOTES = (FramesWarning,)  # the warnings that are a note to the user of a command


@contextlib.contextmanager
def _notes_in_one_line():
    """Meanwhile each of ``NOTES`` is printed once, as ``note: message`` on one line (escaped, shortened); other
    warnings as Python prints them. Always shown: ``-W ignore`` or ``-W error`` are for Python's warnings, and
    a note must neither vanish nor end the command."""
    said, shown = set(), warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, NOTES):
            return shown(message, category, filename, lineno, file, line)
        text = f"note: {_shortened(printable(' '.join(str(message).split())))}"
        if text not in said:
            said.add(text)
            print(text, file=sys.stderr, flush=True)
        return None

    with warnings.catch_warnings():
        for category in NOTES:
            warnings.simplefilter("always", category)
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM raises KeyboardInterrupt meanwhile, so that writes clean up as on Ctrl-C."""
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


SYMLINK_LOOP = "Symlink loop from "  # what pathlib's resolve() raises before Python 3.13 (then an OSError)
LONGEST_LINE = 1000  # characters of an error line: a 10 MB path in a message is shown by its two ends


def _shortened(line):
    if len(line) <= LONGEST_LINE:
        return line
    half = LONGEST_LINE // 2
    return f"{line[:half]} … ({len(line) - 2 * half:,} characters) … {line[-half:]}"


def _message(error):
    if isinstance(error, MemoryError):
        return "not enough memory for this input (the input is too large, or a memory limit is set)"
    message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    if isinstance(error, OSError) and error.filename:
        message = f"{message}: {error.filename}"
    return message


def _closed_streams():
    """The names of the standard streams that were closed at start (Python makes them None), each replaced by
    /dev/null so that a message to it cannot fail."""
    closed = [name for name in ("stdout", "stderr") if getattr(sys, name) is None]
    for name in closed:
        setattr(sys, name, open(os.devnull, "w"))  # open until the process ends
    return closed


def _to_devnull(stream):
    """What is written to ``stream`` from now on, its buffer's flush at exit included, goes to /dev/null."""
    with contextlib.suppress(OSError, ValueError):
        nowhere = os.open(os.devnull, os.O_WRONLY)
        os.dup2(nowhere, stream.fileno())
        os.close(nowhere)


def _of_stdout(error):
    return OSError(error.errno, error.strerror or str(error), "standard output")


class _ReaderMayLeave:
    """stdout for a reader that may stop reading (``| head -1``): once the pipe is gone, what is printed after
    is dropped, and the command goes on (its figure is still written) instead of ending on BrokenPipeError."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)
        except OSError as error:  # > /dev/full, a full disk: said as stdout's, not as the figure's
            raise _of_stdout(error) from None

    def flush(self):
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._gone()
        except OSError as error:
            raise _of_stdout(error) from None

    def _gone(self):
        _to_devnull(self.stream)  # the rest, and the flush at exit

    def __getattr__(self, name):
        return getattr(self.stream, name)


def run(main, prog, extra_errors=(), device=None, writes_stdout=False):
    """Run ``main``; turn a user error into one line and exit status 2, Ctrl-C into status 130 and
    SIGTERM into 143 (128 + the signal, as a shell reports a process it ended).

    ``device``: the command's ``--device`` (given, it wins over ``HADAMARD_DEVICE``, which is then not read);
    ``writes_stdout``: the command's product goes to stdout, which must be open."""
    closed = _closed_streams()
    escape_unencodable()
    stdout, sys.stdout = sys.stdout, _ReaderMayLeave(sys.stdout)
    with _sigterm_interrupts(), _notes_in_one_line():
        try:
            if writes_stdout and "stdout" in closed:
                raise UsageError("standard output is closed, so the JSON asked for with --json - cannot be written; "
                                 "give a file name instead (nothing was written)")
            if device is None:
                environment_device()  # a bad HADAMARD_DEVICE stops it at once (a --device given wins)
            fast_path_enabled(), numba_enabled()  # and a bad HADAMARD_FAST or HADAMARD_NUMBA (read late, or never)
            return main()
        except (*USER_ERRORS, *extra_errors, MemoryError, RuntimeError) as error:
            ours = isinstance(error, (*USER_ERRORS, *extra_errors, MemoryError))  # DeviceError is a RuntimeError
            if not ours and not str(error).startswith(SYMLINK_LOOP):
                raise  # a fault of the program, not of its input: the traceback is the report
            print(f"{prog}: error: {_shortened(printable(' '.join(_message(error).split())))}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as error:
            print(f"\n{prog}: interrupted", file=sys.stderr)
            return interrupted_status(error)
        finally:
            sys.stdout.flush()  # a reader gone by now costs nothing either
            sys.stdout = stdout
