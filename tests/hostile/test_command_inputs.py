"""Commands' own inputs: a --batch pairs file and a --data folder read line by line, the environment read
before any work, hadamard-saliency and hadamard-bench held to the same one-line rule, and a --data folder's
files protected from the report written next to them."""
import json
import os
import shutil

import pytest
from hostile_helpers import run_child, run_main, snapshot

from hadamard_min.cli.bench import main as bench
from hadamard_min.cli.evaluate import main as evaluate
from hadamard_min.cli.explain import main as explain
from hadamard_min.cli.port import main as port
from hadamard_min.cli.saliency import main as saliency
from hadamard_min.escapes import file_name
from hadamard_min.io.atomic import utf8_safe
from hadamard_min.io.model_files import SHIPPED_MODEL

BAD_LINES = {
    "not UTF-8": b'{"image": "photo.png", "question": "what \xff shape"}',
    "huge integer": b'{"image": "photo.png", "question": "q", "n": ' + b"9" * 5000 + b"}",
    "deep": b"[" * 200_000,
    "not JSON": b"image=photo.png",
}


def test_bad_lines_of_a_batch_are_reported_and_skipped_and_the_rest_explained(tmp_path, capsys, photo):
    good = b'{"image": "photo.png", "question": "what shape is it?"}'
    lone_surrogate = b'{"image": "photo.png", "question": "\\ud800 what shape"}'  # valid JSON, not UTF-8-able
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(b"\n".join([good, *BAD_LINES.values(), lone_surrogate]) + b"\n")
    outcome = run_main(explain, ["--batch", pairs, "--out-dir", tmp_path / "out"], capsys)
    assert outcome.code == 1 and not outcome.escaped and "Traceback" not in outcome.err, outcome
    reported = [line for line in outcome.err.splitlines() if "skipped" in line]
    assert [line.split(" line ")[1].split(":")[0] for line in reported] == ["2", "3", "4", "5"], outcome.err
    assert "not UTF-8" in reported[0] and "deeper than" in reported[2]
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [("error" in r) for r in records] == [False, True, True, True, True, False]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0001.png", "0006.png", "results.jsonl"]


ASCII_LOCALE = {"LC_ALL": "C", "PYTHONUTF8": "0"}  # no UTF-8 mode: file names are ASCII + surrogate escapes


def test_a_listing_names_a_non_ascii_image_under_an_ascii_locale(tmp_path, photo):
    # the name "café.png" read from a UTF-8 line could name no file where names are ASCII: "image not found"
    # for a file that is there, in --batch as in --data DIR
    shutil.copy(photo, tmp_path / "café.png")
    line = {"image": "café.png", "question": "what shape is in the image?", "answer": "circle"}
    (tmp_path / "questions.jsonl").write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    outcome = run_child(["hadamard_min.cli.explain", "--batch", "questions.jsonl", "--out-dir", "out"], tmp_path,
                        env=ASCII_LOCALE)
    assert outcome.code == 0 and "Traceback" not in outcome.err, outcome
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0001.png", "results.jsonl"]
    record = json.loads((tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8"))
    assert record["image"] == "café.png", record  # as listed: it was "caf\ufffd\ufffd.png"
    read = run_child(["hadamard_min.cli.evaluate", "--data", ".", "--help"], tmp_path, env=ASCII_LOCALE,
                     prelude="from hadamard_min.data.folder import load_folder\n"
                             "print(load_folder('.').images[0].shape); raise SystemExit(0)")
    assert read.code == 0 and read.out.strip() == "(64, 64, 3)", read


@pytest.mark.parametrize("escaped, shown", [("caf\udcc3\udca9.png", "café.png"), ("\udce9.png", "\ufffd.png"),
                                             ("\ud800.png", "\ufffd.png"), ("caf\udcc3\udca9\ud800", "café\ufffd"),
                                             ("plain é", "plain é")])
def test_an_escaped_name_is_written_as_the_utf_8_it_spells(escaped, shown):
    assert utf8_safe(escaped) == shown and utf8_safe(escaped).encode("utf-8")


@pytest.mark.parametrize("name", ["\udce9.png", "\ud800.png", "caf\u00e9.png"])
def test_a_listed_name_is_spelled_for_a_file_system_that_decodes_utf_8_strictly(monkeypatch, name):
    # Windows decodes names as UTF-8 with surrogatepass: the byte 0xE9 that "\udce9" escapes is no UTF-8 there,
    # and os.fsdecode raised UnicodeDecodeError out of file_name (a traceback for one line of a listing)
    monkeypatch.setattr(os, "fsdecode", lambda raw: raw.decode("utf-8", "surrogatepass"))
    assert file_name(name) == name


@pytest.mark.parametrize("variable, value, words", [("HADAMARD_FAST", "2", "HADAMARD_FAST"),
                                                    ("HADAMARD_DEVICE", "tpu", "HADAMARD_DEVICE"),
                                                    ("HADAMARD_DEVICE", "\udcff", "HADAMARD_DEVICE")])
@pytest.mark.parametrize("command", ["evaluate", "saliency", "bench"])
def test_a_bad_environment_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, photo, variable, value,
                                                       words, command):
    from hadamard_min.core import backend
    from hadamard_min.fast import switch
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setattr(switch.FAST, "value", None)
    monkeypatch.setenv(variable, value)
    argv = {"evaluate": ["--examples", "2", "--out", tmp_path / "report"],
            "saliency": [photo, "--out", tmp_path / "s.png"],
            "bench": ["--no-torch", "--size", "32", "--runs", "1", "--depth", "50"]}[command]
    main = {"evaluate": evaluate, "saliency": saliency, "bench": bench}[command]
    run_main(main, argv, capsys).one_line_error(words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


@pytest.mark.parametrize("argument", [["--class", "nan"], ["--class", "1.5"], ["--class", "1000"],
                                      ["--top-k", "inf"], ["--top-k", "0"], ["--method", "magic"]])
def test_saliency_arguments_are_one_line(tmp_path, capsys, photo, argument):
    run_main(saliency, [photo, "--out", tmp_path / "s.png", *argument], capsys).one_line_error(argument[0])


def test_saliency_refuses_an_output_linked_to_its_image(tmp_path, capsys, photo):
    (tmp_path / "link.png").hardlink_to(photo)
    before = snapshot(tmp_path)
    run_main(saliency, [photo, "--out", tmp_path / "link.png"], capsys).one_line_error("same file", "IMAGE")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argument", [["--seed", "-1"], ["--seed", "4294967296"], ["--threads", "0"],
                                      ["--batch", "100000"], ["--runs", "0"], ["--warmup", "-1"]])
def test_bench_arguments_are_one_line(capsys, argument):
    run_main(bench, ["--no-torch", "--size", "32", *argument], capsys).one_line_error(argument[0])


@pytest.mark.parametrize("arguments", [["--explain-rate", "--size", "224"], ["--explain-rate", "--batch", "1", "8"],
                                       ["--explain-rate", "--depth", "50"], ["--explain-rate", "--seed", "3"],
                                       ["--questions", "10"], ["--explain-batch", "8"], ["--workers", "2"]])
def test_a_bench_option_of_the_other_mode_is_refused_not_ignored(capsys, arguments):
    """--explain-rate --size 224 timed the 64×64 easy-VQA model and printed its table as if --size were used."""
    option = next(argument for argument in arguments[1:] if argument.startswith("--")) if arguments[0] == \
        "--explain-rate" else arguments[0]
    run_main(bench, ["--no-torch", "--runs", "1", "--warmup", "0", *arguments], capsys).one_line_error(
        f"leave out {option}")


def test_a_bench_worker_that_fails_is_one_line_with_its_reason(tmp_path):
    """The worker's own one-line error (here: out of memory under a 1.5 GiB cap) becomes the command's."""
    outcome = run_child(["hadamard_min.cli.bench", "--no-torch", "--size", "1024", "--batch", "16", "--runs", "1",
                         "--depth", "50"], cwd=tmp_path, limits={"RLIMIT_AS": 3 << 29})
    outcome.one_line_error("the ours worker stopped", "not enough memory")


def test_evaluate_never_writes_over_a_file_of_its_data_folder(tmp_path, capsys, photo):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(photo, data / "examples.png")  # the name of a report file
    (data / "questions.jsonl").write_text('{"image": "examples.png", "question": "what shape is it?"}\n')
    before = snapshot(data)
    outcome = run_main(evaluate, ["--data", data, "--out", data, "--force", "--examples", "1"], capsys)
    outcome.one_line_error("examples.png", "same file")
    assert snapshot(data) == before


@pytest.mark.parametrize("line", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_a_bad_line_of_a_data_folder_is_one_line(tmp_path, capsys, photo, line):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(photo, data / "photo.png")
    (data / "questions.jsonl").write_bytes(b'{"image": "photo.png", "question": "what shape?"}\n' + line + b"\n")
    run_main(evaluate, ["--data", data, "--out", tmp_path / "report", "--examples", "1"], capsys) \
        .one_line_error("questions.jsonl line 2")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("argv", [["--top-k", "13"], ["--json", "-", "--out", "figure.png"]], ids=" ".join)
def test_a_reader_that_stops_reading_ends_nothing(tmp_path, argv):
    """``hadamard-explain | head -1``: the pipe gone, the rest of stdout was 'error: Broken pipe' and status 2
    (hadamard-saliency --top-k 1000 | head -1 wrote no figure); now the rest is dropped and the work goes on."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    reader, writer = os.pipe()
    os.close(reader)  # nobody will read: every write to the pipe fails with EPIPE
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "hadamard_min", "explain", *argv,
                           *([] if "--out" in argv else ["--out", "figure.png"])],
                          cwd=tmp_path, stdout=writer, stderr=subprocess.PIPE, env=env, timeout=120)
    os.close(writer)
    assert done.returncode == 0 and b"error" not in done.stderr and b"Broken" not in done.stderr, done.stderr
    assert ("--json" in argv) == bool(done.stderr)  # with --json -, its messages are stderr's (the rest: stdout)
    assert (tmp_path / "figure.png").stat().st_size > 10_000


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_standard_output_is_named_as_such(tmp_path):
    """``hadamard-explain > /dev/full``: the figure is written and the error was 'No space left on device'
    alone, as if the figure had failed; it names standard output."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OPENBLAS_NUM_THREADS": "1"}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "hadamard_min", "explain", "--out", "figure.png"], cwd=tmp_path,
                              stdout=full, stderr=subprocess.PIPE, env=env, timeout=120, text=True)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "hadamard-explain: error: No space left on device: standard output"], done.stderr
    assert (tmp_path / "figure.png").stat().st_size > 10_000


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_that_cannot_be_written_is_an_error_and_a_reader_that_left_is_not(tmp_path, option):
    """``hadamard-explain --help > /dev/full`` exited 0 with the text lost (argparse drops a write error, and
    the text was still buffered); now one line and status 2. ``| head -1`` stays status 0, silent."""
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "hadamard_min", "explain", option]
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, env=env, timeout=60, text=True)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "hadamard-explain: error: No space left on device: standard output"], done
    reader, writer = os.pipe()
    os.close(reader)
    done = subprocess.run(command, stdout=writer, stderr=subprocess.PIPE, env=env, timeout=60, text=True)
    os.close(writer)
    assert done.returncode == 0 and done.stderr == "", done


def test_a_positional_file_whose_name_starts_with_a_dash_is_told_how_to_give_it(tmp_path, capsys, monkeypatch):
    """hadamard-port -a.npz out.npz: argparse reads -a.npz as an option, and said only 'the following arguments
    are required: DST' (or 'unrecognized arguments'), of a file that is there."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(SHIPPED_MODEL, "-a.npz")
    run_main(port, ["-a.npz", "out.npz"], capsys).one_line_error(
        "arguments are required: DST", "(-a.npz is a file: give it as ./-a.npz, or after --)")
    run_main(port, ["in.npz", "out.npz", "-a.npz"], capsys).one_line_error(
        "unrecognized arguments: -a.npz", "give it as ./-a.npz")
    assert run_main(port, ["--", "-a.npz", "out.npz"], capsys).code == 0 and os.path.getsize("out.npz") > 0
    missing = run_main(port, ["-b.npz", "out.npz"], capsys)  # no such file: no hint
    missing.one_line_error("arguments are required")
    assert "is a file" not in missing.err


def test_an_image_whose_name_starts_with_a_dash_is_told_how_to_give_it(tmp_path, capsys, photo):
    """argparse reads --image -a.png as two options: 'expected one argument' alone, for a value that was given."""
    shutil.copy(photo, tmp_path / "-a.png")
    outcome = run_main(explain, ["--image", "-a.png", "--question", "what shape?"], capsys)
    outcome.one_line_error("argument --image: expected one argument", "with '=': --image=-value")
    for left_out in (["--question", "q", "--image"], ["--image", "--question", "q"]):  # no value: no such hint
        outcome = run_main(explain, left_out, capsys)
        outcome.one_line_error("argument --image: expected one argument")
        assert "with '='" not in outcome.err, outcome.err
    outcome = run_main(explain, [f"--image={tmp_path / '-a.png'}", "--question", "what shape?", "--json", "-"], capsys)
    assert outcome.code == 0 and json.loads(outcome.out)["question"] == "what shape?", outcome
