"""The one progress display: a bar on a terminal, whole lines in a log, lines to a sink."""
import io

from hadamard_min.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_file_gets_one_line_per_step_and_no_carriage_return():
    log = io.StringIO()
    progress = Progress(3, "epoch 1/2", stream=log)
    for step in range(1, 4):
        progress.update(step, loss=0.5 / step, images=step * 8)
    progress.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.split()[:3] for line in lines] == [["epoch", "1/2", f"{k}/3"] for k in (1, 2, 3)]
    assert "loss 0.250" in lines[1] and "images 16" in lines[1] and "ETA" in lines[1]


def test_a_terminal_gets_a_bar_that_rewrites_its_line():
    screen = Terminal()
    progress = Progress(4, "batch", stream=screen, width=8)
    progress.update(1)
    progress.update(4)
    progress.close()
    text = screen.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "[##......] 1/4" in text and "[########] 4/4" in text


def test_a_sink_receives_the_plain_lines_and_nothing_is_written():
    lines = []
    progress = Progress(2, "examples", sink=lines.append)
    progress.update(2, randomised="GRU")
    progress.close()
    assert len(lines) == 1 and lines[0].startswith("examples 2/2  randomised GRU")
