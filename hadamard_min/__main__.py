"""``python -m hadamard_min COMMAND [OPTIONS]``: the console scripts without their launchers on the PATH.

COMMAND is ``explain``, ``train``, ``port``, ``bench``, ``evaluate``, ``saliency`` or ``exercises`` (or the
script's full name, ``hadamard-explain``); ``python -m hadamard_min explain --help`` is ``hadamard-explain --help``.
"""
import importlib
import sys

# The console scripts of pyproject.toml's [project.scripts]: hadamard-NAME runs hadamard_min.cli.NAME's main().
COMMANDS = ("explain", "train", "port", "bench", "evaluate", "saliency", "exercises")
USAGE = (f"usage: python -m hadamard_min COMMAND [OPTIONS]\n"
         f"commands: {', '.join(COMMANDS)} (each has --help)\n"
         f"example: python -m hadamard_min explain --image my.png --question \"what color is the shape?\"\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(USAGE)
        return 0 if argv else 2
    name = argv[0].removeprefix("hadamard-")
    if name not in COMMANDS:
        sys.stderr.write(f"python -m hadamard_min: error: unknown command {argv[0]!r}; one of "
                         f"{', '.join(COMMANDS)}\n")
        return 2
    return importlib.import_module(f"hadamard_min.cli.{name}").main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
