"""Images, class 3: one line on stderr per bad line of a batch, whatever its image path holds. A newline in
the path made two lines; an escape sequence reached the terminal raw (clearing it, recolouring it). Both are
written as their escapes, as a model's answers and a question's tokens already are."""
import json
import re

import pytest
from hostile_helpers import run_main

from hadamard_min.cli.explain import main as explain

PATHS = {
    "newline": "a\nb.png",
    "carriage return": "ok.png\rhadamard-explain: all good.png",
    "escape sequence": "\x1b[2J\x1b[31mred\x1b[0m.png",
    "bell and backspace": "\x07\x08\x08x.png",
    "not UTF-8": "\udcff\udcfe.png",
    "line separator": "a\u2028b.png",
}

PROGRESS = re.compile(r"^\s*explain \d+/\d+")


@pytest.mark.parametrize("name", PATHS)
def test_each_bad_line_is_one_escaped_line(tmp_path, capsys, photo, name):
    pairs = tmp_path / "pairs.jsonl"
    lines = [{"image": PATHS[name], "question": "what shape is it?"}, {"image": "photo.png", "question": "what?"}]
    pairs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    outcome = run_main(explain, ["--batch", pairs, "--out-dir", tmp_path / "out"], capsys)
    assert outcome.code == 1 and not outcome.escaped, outcome
    lines = [line for line in outcome.err.splitlines() if line and not PROGRESS.match(line)]
    assert len(lines) == 1, outcome.err    # splitlines() splits at \r, \x1c-\x1e, \x85 and \u2028 too
    err = lines[0]
    assert err.startswith("hadamard-explain: pairs.jsonl line 1: image not found: ") and err.endswith("; skipped")
    assert err.isprintable(), ascii(err)
    assert PATHS[name].encode("unicode_escape").decode("ascii") in err, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0002.png", "results.jsonl"]
    record = json.loads((tmp_path / "out" / "results.jsonl").read_text().split("\n")[0])
    assert record["line"] == 1 and "image not found" in record["error"]   # the record keeps the text itself
