"""What the commands' parsers share: ``--version``, ``--workers``, and help that shows each default once.

argparse's ``ArgumentDefaultsHelpFormatter`` appends "(default: …)" to every option, so flags read
"(default: False)", options without a default "(default: None)", and options whose help already names
their default say it twice. :class:`HelpFormatter` appends it only where it tells the reader something.
"""
import argparse
import re

from hadamard_min import __version__
from hadamard_min.cli.checks import integer
from hadamard_min.parallel import MIN_PARALLEL


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """"(default: X)" after an option's help, unless X is None, the option is a flag, or the help says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (not action.option_strings or action.nargs == 0 or action.default in (None, argparse.SUPPRESS)
                or re.search(r"default[:)]|%\(default\)", text)):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def add_version(parser):
    """``--version``: print "PROG VERSION" and exit; returns the parser."""
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    return parser


def add_workers(parser, work):
    """``--workers N``: the processes that share ``work`` (:mod:`hadamard_min.parallel`); returns the parser."""
    parser.add_argument("--workers", type=integer(1, 1024), default=None, metavar="N",
                        help=f"processes that share {work}, at most one per core; the results do not depend on "
                             f"it (default: every core from {MIN_PARALLEL} examples on, else 1)")
    return parser
