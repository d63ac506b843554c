"""The one error handler of every command: a user's mistake is one line on stderr and exit status 2."""
import json
import sys

from hadamard_min.core.backend import DeviceError
from hadamard_min.data.easyvqa import DataError
from hadamard_min.data.images import ImageError
from hadamard_min.data.text import QuestionError, VocabularyError
from hadamard_min.fast import FastSwitchError
from hadamard_min.io.weights import WeightsError


class UsageError(ValueError):
    """A command's arguments do not make sense together (a user error)."""


# OSError: a missing file, a folder where a file should be, no permission, a full disk.
USER_ERRORS = (DeviceError, DataError, ImageError, QuestionError, VocabularyError, WeightsError, FastSwitchError,
               UsageError, OSError)


def run(main, prog, extra_errors=()):
    """Run ``main``; turn a user error into one line and exit status 2, Ctrl-C into status 130."""
    try:
        return main()
    except (*USER_ERRORS, *extra_errors) as error:
        message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        if isinstance(error, OSError) and error.filename:
            message = f"{message}: {error.filename}"
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130


def _json_default(value):
    return value.tolist() if hasattr(value, "tolist") else str(value)


def dump_json(data, stream=sys.stdout):
    json.dump(data, stream, indent=2, default=_json_default)
    stream.write("\n")
