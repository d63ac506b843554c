"""hadamard-explain's methods, arrays out and batch mode, run in-process on the shipped model."""
import json
import os
import signal
from pathlib import Path

import numpy
import pytest
from PIL import Image

from hadamard_min import Explanation
from hadamard_min.cli.explain import main
from hadamard_min.data.example import EXAMPLE_IMAGE
from hadamard_min.explain.methods import METHODS

ARRAY_KEYS = {"grad_v", "grad_q", "pixel_map", "heatmap", "alpha", "token_scores", "token_z", "image", "input_image"}


def one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    for word in words:
        assert word in err[0], err[0]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_writes_its_figure(method, tmp_path, capsys):
    assert main(["--method", method, "--out", str(tmp_path / "e.png")]) == 0
    figure = numpy.asarray(Image.open(tmp_path / "e.png"))
    assert figure.shape[1] > 600 and figure.std() > 10
    out = capsys.readouterr().out
    assert ("method:" in out) == (method != "hadamard")
    if method in ("saliency", "guided", "gradcam"):
        answer = out.split("answer:")[1].split()[0]
        assert f"explaining “{answer}”" in out


def test_save_arrays_keys_and_shapes_without_json(tmp_path, capsys):
    arrays = tmp_path / "e.npz"
    assert main(["--out", str(tmp_path / "e.png"), "--save-arrays", str(arrays)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npz", "e.png"]      # no JSON, no map PNGs
    with numpy.load(arrays) as npz:
        shapes = {key: npz[key].shape for key in npz.files if not key.startswith("__")}
        text = json.loads(str(npz["__explanation__"]))
    rho = len(text["tokens"])
    assert set(shapes) == ARRAY_KEYS
    assert shapes["grad_v"] == shapes["pixel_map"] == (3, 64, 64) and shapes["heatmap"] == (64, 64)
    assert shapes["grad_q"][0] == rho and shapes["token_scores"] == shapes["token_z"] == (rho,)
    assert shapes["alpha"] == (2, 8, 8) and shapes["image"] == (64, 64, 3)
    assert text["answer"] in capsys.readouterr().out
    loaded = Explanation.load(arrays)
    assert abs(loaded.token_z.sum()) < 1e-9 and loaded.method == "hadamard"


def test_save_arrays_of_a_chosen_answer(tmp_path):
    arrays = tmp_path / "s.npz"
    assert main(["--method", "saliency", "--answer", "no", "--out", str(tmp_path / "s.png"),
                 "--save-arrays", str(arrays)]) == 0
    loaded = Explanation.load(arrays)
    assert loaded.target == "no" and loaded.answer == "yes" and loaded.grad_v.shape == (3, 64, 64)


@pytest.mark.parametrize("argv, words", [
    (["--answer", "no"], ["no particular answer"]),
    (["--method", "gradcam", "--answer", "purple"], ["no answer 'purple'"]),
    (["--method", "attention", "--no-fix-f"], ["--no-fix-f", "hadamard"]),
    (["--save-arrays", "arrays.txt"], [".npz"]),
    (["--save-arrays", "missing/arrays.npz"], ["does not exist"]),
    (["--batch", "pairs.jsonl", "--image", "x.png"], ["--image"]),
    (["--batch", "missing.jsonl"], ["missing.jsonl"]),
])
def test_user_errors_are_one_line(argv, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    one_line_error(capsys, *words)
    assert list(tmp_path.iterdir()) == []


def write_pairs(folder):
    (folder / "pictures").mkdir()
    Image.open(EXAMPLE_IMAGE).save(folder / "pictures" / "shape.png")
    lines = [json.dumps({"image": "pictures/shape.png", "question": "what shape is in the image?"}),
             "{not json",
             json.dumps({"image": "pictures/none.png", "question": "what color is the shape?"}),
             "",
             json.dumps({"image": "pictures/shape.png", "question": "what color is the shape?"}),
             json.dumps({"image": "pictures/shape.png"})]
    (folder / "pairs.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "pairs.jsonl"


def test_batch_reports_and_skips_bad_lines_and_explains_the_others(tmp_path, capsys):
    pairs, out = write_pairs(tmp_path), tmp_path / "out"
    assert main(["--batch", str(pairs), "--out-dir", str(out), "--batch-size", "1"]) == 1   # some failed
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "skipped" in line]
    assert [line.split(" line ")[1].split(":")[0] for line in errors] == ["2", "3", "6"]
    assert all(line.startswith("hadamard-explain: pairs.jsonl line") for line in errors)
    steps = [line for line in captured.err.splitlines() if line.startswith("explain ")]
    assert [step.split()[1] for step in steps] == [f"{n}/5" for n in range(1, 6)]  # a line per chunk of lines
    assert "\r" not in captured.err
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 5, 6]
    good = {r["line"]: r for r in records if "error" not in r}
    assert sorted(good) == [1, 5] and "none.png" in records[2]["error"] and "JSON" in records[1]["error"]
    assert good[1]["answer"] == "triangle" and good[5]["answer"] == "red"
    assert sorted(p.name for p in out.iterdir()) == ["0001.png", "0005.png", "results.jsonl"]
    assert "explained 2 of 5 pairs" in captured.out


def test_batch_reads_its_images_a_chunk_at_a_time(tmp_path, monkeypatch):
    from hadamard_min.cli import explain_batch
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"image": str(EXAMPLE_IMAGE), "question": "what shape is it?"}) + "\n"
                             for _ in range(6)))
    framed, seen = [], []
    real_frame, real_explain = explain_batch.frame, explain_batch.explain_pairs
    monkeypatch.setattr(explain_batch, "frame", lambda *a: framed.append(1) or real_frame(*a))
    monkeypatch.setattr(explain_batch, "explain_pairs", lambda *a: seen.append(len(framed)) or real_explain(*a))
    assert main(["--batch", str(pairs), "--out-dir", str(tmp_path / "out"), "--batch-size", "2",
                 "--workers", "1"]) == 0
    assert seen == [2, 4, 6]  # not all six images read before the first is explained


@pytest.mark.parametrize("end", ["Ctrl-C", "SIGTERM", "a worker killed"])
def test_a_batch_that_ends_early_still_writes_its_results(tmp_path, monkeypatch, capsys, end):
    from hadamard_min.cli import explain_batch
    pairs = write_pairs(tmp_path)
    real, calls = explain_batch.explain_chunk, []

    def interrupted_in_the_fourth_chunk(job, chunk):  # line 5: its figure drawn, its record not returned
        calls.append(chunk)
        records = real(job, chunk)
        if len(calls) == 4 and end == "SIGTERM":
            os.kill(os.getpid(), signal.SIGTERM)  # the handler the command installed raises here
        if len(calls) == 4:
            raise KeyboardInterrupt if end == "Ctrl-C" else MemoryError("a worker process ended abruptly")
        return records

    monkeypatch.setattr(explain_batch, "explain_chunk", interrupted_in_the_fourth_chunk)
    out = tmp_path / "out"
    status = main(["--batch", str(pairs), "--out-dir", str(out), "--batch-size", "1", "--workers", "1"])
    assert status == {"Ctrl-C": 130, "SIGTERM": 143}.get(end, 2)  # 128 + the signal, as a shell reports it
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 5, 6]
    assert records[0]["answer"] == "triangle" and "JSON" in records[1]["error"]
    assert "none.png" in records[2]["error"] and all(r["error"] == explain_batch.NOT_REACHED for r in records[3:])
    assert sorted(p.name for p in out.iterdir()) == ["0001.png", "results.jsonl"]  # no figure it does not list
    err = capsys.readouterr().err
    assert ("3 of 5 lines done" in err) == (end != "a worker killed")
    assert end != "a worker killed" or err.splitlines()[-1].startswith("hadamard-explain: error: not enough memory")


def test_batch_all_good_exits_0_and_never_writes_into_a_full_folder(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"image": str(EXAMPLE_IMAGE), "question": "is there a red shape?"}) + "\n")
    out = tmp_path / "out"
    assert main(["--batch", str(pairs), "--out-dir", str(out), "--method", "gradcam"]) == 0
    record = json.loads((out / "results.jsonl").read_text())
    assert record["method"] == "gradcam" and record["figure"] == "0001.png"
    before = (out / "results.jsonl").read_bytes()
    capsys.readouterr()
    assert main(["--batch", str(pairs), "--out-dir", str(out)]) == 2
    one_line_error(capsys, "not empty")
    assert (out / "results.jsonl").read_bytes() == before


def test_batch_takes_fit_and_refuses_out(tmp_path, capsys):
    wide = tmp_path / "wide.png"
    Image.open(EXAMPLE_IMAGE).convert("RGB").resize((128, 64)).save(wide)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"image": str(wide), "question": "what color is the shape?"}) + "\n")
    for fit in ("stretch", "pad"):
        assert main(["--batch", str(pairs), "--out-dir", str(tmp_path / fit), "--fit", fit]) == 0
    stretched, padded = (json.loads((tmp_path / fit / "results.jsonl").read_text()) for fit in ("stretch", "pad"))
    assert padded["framing"]["fit"] == "pad" and stretched["framing"]["fit"] == "stretch"
    assert padded["token_z"] != stretched["token_z"]  # the model saw another picture
    capsys.readouterr()
    assert main(["--batch", str(pairs), "--out-dir", str(tmp_path / "x"), "--out", str(tmp_path / "x.png")]) == 2
    one_line_error(capsys, "drop --out")


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Use it from Python"):]
    code = section[section.index("```python") + len("```python"):section.index("```\n", section.index("```python"))]
    monkeypatch.chdir(tmp_path)  # an empty folder: hm.example() finds the shipped example wherever it is
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["e"].answer == "yes" and len(namespace["many"]) == 3
    assert all(c.target == "no" and c.method == "gradcam" for c in namespace["cams"])
    assert [c.target for c in namespace["each"]] == ["no", "red", "yes"] and namespace["one"].target == "yes"
    assert namespace["s"].maps.shape == (3, 3, 64, 64)
    assert Explanation.load(tmp_path / "e.npz").answer == "yes"


@pytest.mark.parametrize("flags", [["--workers", "2"], ["--out-dir", "results"], ["--batch-size", "4"]])
def test_batch_options_without_batch_are_refused_not_ignored(flags, tmp_path, monkeypatch, capsys):
    """--out-dir, --batch-size and --workers belong to --batch: with one image they were dropped without a
    word (the figure went to explanation.png, not into the folder asked for)."""
    monkeypatch.chdir(tmp_path)
    assert main(["--question", "what color is the shape?", *flags]) == 2
    one_line_error(capsys, flags[0], "--batch")
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("flag", ["--image", "--weights", "--out", "--json", "--save-arrays", "--batch", "--out-dir",
                                  "--resnet", "--mlb", "--vocab", "--answers"])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(flag, tmp_path, monkeypatch, capsys):
    """pathlib reads "" as ".": --image "" was "a folder", --out-dir "" this folder, and --json "" no JSON at
    all (the figure was written and the command ended with 0)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["--question", "what color is the shape?", flag, ""])
    assert stop.value.code == 2
    one_line_error(capsys, flag, "empty")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-be", "utf-16-le"])
def test_a_utf16_batch_file_is_refused_whole_not_line_by_line(encoding, tmp_path, capsys):
    """A PAIRS.jsonl saved as UTF-16 (Windows PowerShell's >) failed line by line as "not JSON" (a NUL byte is
    valid UTF-8), ending with 1 and a folder of errors; it is one line that names the encoding, and no folder."""
    Image.open(EXAMPLE_IMAGE).save(tmp_path / "shape.png")
    line = json.dumps({"image": "shape.png", "question": "what color is the shape?"})
    text = (line + "\n") * 2
    boms = {"utf-16-be": b"\xfe\xff", "utf-32-be": b"\0\0\xfe\xff"}  # utf-16-le: none, as some editors write it
    data = boms.get(encoding, b"") + text.encode(encoding)
    (tmp_path / "pairs.jsonl").write_bytes(data)
    assert main(["--batch", str(tmp_path / "pairs.jsonl"), "--out-dir", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "UTF-16", "save the file as UTF-8")
    assert not (tmp_path / "out").exists()


def test_an_error_that_ends_a_batch_is_printed_after_the_bar_not_on_it(tmp_path, monkeypatch):
    """A disk found full at the third figure: the error went on the bar's line, after its ETA."""
    import errno
    import io

    from hadamard_min.cli import explain_batch

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    real, calls = explain_batch.explain_chunk, []

    def full_at_the_third_chunk(job, chunk):
        calls.append(chunk)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", "0005.png")
        return real(job, chunk)

    monkeypatch.setattr(explain_batch, "explain_chunk", full_at_the_third_chunk)
    monkeypatch.setattr("sys.stderr", screen := Terminal())
    assert main(["--batch", str(write_pairs(tmp_path)), "--out-dir", str(tmp_path / "out"), "--batch-size", "1",
                 "--workers", "1"]) == 2
    last = screen.getvalue().split("\r")[-1].splitlines()
    assert last[-1].startswith("hadamard-explain: error: No space left on device") and "ETA" not in last[-1], last


def test_a_finished_batch_ends_its_bar_before_its_last_line(tmp_path, monkeypatch):
    """On a terminal the bar's line stayed open, and "explained … pairs" went on it, after "ETA 0:00"."""
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr("sys.stdout", screen)  # one terminal for both, as in a shell
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"image": str(EXAMPLE_IMAGE), "question": "what shape is it?"}) + "\n")
    assert main(["--batch", str(pairs), "--out-dir", str(tmp_path / "out")]) == 0
    assert screen.getvalue().split("\r")[-1].splitlines()[-1].startswith("explained 1 of 1 pairs")


def test_a_second_batch_into_a_folder_another_run_has_just_made_is_refused(tmp_path, capsys):
    """Two runs given one new --out-dir both found it empty and both wrote 0001.png and results.jsonl: the last
    replaced the other's files and both said they had explained their pairs. The first run claims it at once."""
    from hadamard_min.cli.explain_batch import prepare_folder

    out = tmp_path / "out"
    prepare_folder(out)  # another run has made the folder and not yet written a figure
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"image": str(EXAMPLE_IMAGE), "question": "is there a red shape?"}) + "\n")
    assert main(["--batch", str(pairs), "--out-dir", str(out)]) == 2
    one_line_error(capsys, "not empty")
    assert [p.name for p in out.iterdir()] == ["results.jsonl"]
