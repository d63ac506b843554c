"""``python -m hadamard_min COMMAND [OPTIONS]``: the console scripts without their launchers on the PATH.

COMMAND is ``explain``, ``train``, ``port``, ``bench``, ``evaluate``, ``saliency`` or ``exercises`` (or the
script's full name, ``hadamard-explain``); ``python -m hadamard_min explain --help`` is ``hadamard-explain --help``.
The command runs as the console script does (``hadamard_min_launch``: Ctrl-C and SIGTERM end it with one line and
status 128 + the signal, 130 and 143), from the moment this module runs: Python imports the package itself first,
about 0.3 s in which the signals' default actions still hold.
"""
import sys

from hadamard_min import __version__

# The console scripts of pyproject.toml's [project.scripts]: hadamard-NAME runs hadamard_min.cli.NAME's main().
COMMANDS = ("explain", "train", "port", "bench", "evaluate", "saliency", "exercises")
USAGE = (f"usage: python -m hadamard_min COMMAND [OPTIONS]\n"
         f"commands: {', '.join(COMMANDS)} (each has --help)\n"
         f"example: python -m hadamard_min explain --image my.png --question \"what color is the shape?\"\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help", "--version"):
        sys.stdout.write(USAGE if argv[0] != "--version" else f"hadamard-min {__version__}\n")
        return 0
    name = argv[0].removeprefix("hadamard-") if argv else None
    if name not in COMMANDS:
        given = f"unknown command {argv[0]!r}" if argv else "no command given"
        sys.stderr.write(f"python -m hadamard_min: error: {given}; one of {', '.join(COMMANDS)} "
                         f"(python -m hadamard_min --help)\n")
        return 2
    from hadamard_min_launch import launch
    return launch(name, f"python -m hadamard_min {name}", argv[1:])


if __name__ == "__main__":
    sys.exit(main())
