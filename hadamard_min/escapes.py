"""Text from outside (a file name, a model file's answers, a question) as the terminal may show it.

A path or a word can hold any character but ``/`` and NUL: an ESC that starts a sequence driving the terminal
(colours, the title, the cursor), a newline that makes one message two lines, a byte that is not UTF-8
(Python's surrogate escape). :func:`printable` writes each such character as its escape, so what reaches a
terminal is text only and a message stays one line. Imports nothing: the error handler uses it before NumPy
or matplotlib are loaded.
"""


def printable(text):
    """``text`` with each character that is not printable (an ESC that would drive the terminal, a newline)
    written as its escape, ``\\x1b``: a file name, a model file's answers and a question reach the terminal as
    text only."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
