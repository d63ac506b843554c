"""How far a long loop has got: the one progress display of training, evaluation and batch explanations.

On a terminal the display is a bar that rewrites its own line (``\\r``):

    epoch 1/6 [######..................] 31/125  loss 0.912  acc 0.601  ETA 1:02

Anywhere else (a log file, a pipe, a notebook's captured stderr) it prints one whole line per step and
never writes ``\\r``, so a log reads top to bottom:

    epoch 1/6 31/125  loss 0.912  acc 0.601  ETA 1:02

A ``sink`` (any callable taking one line of text) receives the plain lines instead of a stream: a caller
that wants them elsewhere, or nowhere (``sink=lambda line: None``), passes one.
"""
import sys
import time


def _format_value(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


class Progress:
    """``update(done, **values)`` after each step of ``total``; ``close()`` at the end."""

    def __init__(self, total, label, stream=None, sink=None, width=24):
        self.total, self.label, self.width = max(int(total), 1), label, width
        self.stream = sys.stderr if stream is None and sink is None else stream
        self.sink = sink
        self.bar = sink is None and is_terminal(self.stream)
        self.start = time.perf_counter()
        self.open_line = False

    def update(self, done, **values):
        """Show that ``done`` of ``total`` steps are finished, with ``values`` (floats to 3 decimals)."""
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done) if done else 0.0
        stats = "".join(f"  {key} {_format_value(value)}" for key, value in values.items())
        tail = f"{done}/{self.total}{stats}  ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        if self.sink is not None:
            self.sink(f"{self.label} {tail}")
        elif self.bar:
            filled = int(self.width * min(done, self.total) / self.total)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {tail} ")
            self.open_line = True
        else:
            self.stream.write(f"{self.label} {tail}\n")
        if self.stream is not None:
            self.stream.flush()

    def close(self):
        """End the bar's line (on a terminal); the plain lines need nothing."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def in_chunks(count, size, label, show=None):
    """Yield slices that cover ``range(count)`` in steps of ``size``, with a :class:`Progress` on stderr.

    ``show``: None shows it when there is more than one chunk (a long run), True always, False never. The bar's
    line is ended however the loop ends: an error raised in it is then printed on a line of its own.
    """
    if size < 1:
        raise ValueError(f"the batch size must be at least 1, not {size}")
    starts = range(0, count, size)
    progress = Progress(count, label) if (len(starts) > 1 if show is None else show) else None
    try:
        for start in starts:
            yield slice(start, min(start + size, count))
            if progress:
                progress.update(min(start + size, count))
    finally:  # also when the loop's body raises (the generator is closed as it is let go)
        if progress:
            progress.close()
