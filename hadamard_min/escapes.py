"""Text from outside (a file name, a model file's answers, a question) as the terminal may show it.

A path or a word can hold any character but ``/`` and NUL: an ESC that starts a sequence driving the terminal
(colours, the title, the cursor), a newline that makes one message two lines, a byte that is not UTF-8
(Python's surrogate escape). :func:`printable` writes each such character as its escape, so what reaches a
terminal is text only and a message stays one line. Imports only os: the error handler uses it before NumPy
or matplotlib are loaded. :func:`file_name` is the way back: a name read from a UTF-8 file as the file system
spells it.
"""
import os


def printable(text):
    """``text`` with each character that is not printable (an ESC that would drive the terminal, a newline)
    written as its escape, ``\\x1b``: a file name, a model file's answers and a question reach the terminal as
    text only."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def file_name(text):
    """A file name read from UTF-8 text (a line of a JSON listing) as the file system spells it: the text itself
    where names are UTF-8; under an ASCII locale (``LC_ALL=C PYTHONUTF8=0``) its UTF-8 bytes as surrogate escapes,
    as ``os.listdir`` gives that file's name ("café" could name no file there, and was "image not found")."""
    try:
        return os.fsdecode(text.encode("utf-8", "surrogateescape"))
    except UnicodeError:  # a lone surrogate that stands for no byte, or (Windows: UTF-8, surrogatepass) for a
        return text       # byte that is not UTF-8 there: left for the open to refuse
