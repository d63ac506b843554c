"""Class 4, one line: every error a user can cause is one line on stderr and exit status 2, never a traceback;
text that is not UTF-8 (in a question or a file name) is no error at all.
"""
import json
import os
import shutil

import numpy
import pytest
from crafted import png_header
from hostile_helpers import run_child, run_main, snapshot

from hadamard_min.cli.bench import main as bench_main
from hadamard_min.cli.evaluate import main as evaluate_main
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.train import main as train_main
from hadamard_min.core import backend
from hadamard_min.io.model_files import SHIPPED_MODEL
from hadamard_min.io.porting import read_names
from hadamard_min.io.weights import WeightsError, load_npz_metadata, load_weights, save_weights

QUESTION = ["--question", "what shape is in the image?"]


@pytest.mark.parametrize("width, height", [(20_000, 20_000), (10_000, 9_500), (9_000, 9_000)])
def test_an_image_too_large_to_decode_is_one_line(tmp_path, capsys, width, height):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(width, height))   # 400, 95 and 81 million pixels in 150 bytes

    outcome = run_main(explain_main, ["--image", bomb, *QUESTION, "--out", tmp_path / "out.png"], capsys)

    outcome.one_line_error("bomb.png")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("question", ["what \udcff\udcfe shape is it?", "what shape\ud800 is it?"])
def test_a_question_that_is_not_utf8_is_explained(tmp_path, capsys, photo, question):
    outcome = run_main(explain_main, ["--image", photo, "--question", question, "--out", tmp_path / "out.png",
                                      "--json", tmp_path / "out.json"], capsys)

    outcome.success()
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["tokens"][:2] == ["what", "shape"]


def test_an_image_name_that_is_not_utf8_is_explained(tmp_path, capsys, photo):
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/ph\xffoto.png")   # a lone surrogate in the str
    shutil.copy(photo, odd)

    outcome = run_main(explain_main, ["--image", odd, *QUESTION, "--out", tmp_path / "out.png",
                                      "--json", tmp_path / "out.json"], capsys)

    outcome.success()
    assert "\ufffd" in json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["image"]


@pytest.mark.parametrize("top_k", ["0", "-1", "many"])
def test_a_top_k_below_one_is_one_line(tmp_path, capsys, photo, top_k):
    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--top-k", top_k, "--out", tmp_path / "o.png"],
                       capsys)
    outcome.one_line_error("--top-k")


@pytest.mark.parametrize("device", ["tpu", "GPU0"])
def test_a_bad_hadamard_device_is_one_line(tmp_path, capsys, monkeypatch, photo, device):
    monkeypatch.setenv("HADAMARD_DEVICE", device)
    monkeypatch.setattr(backend, "_device", None)

    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "o.png"], capsys)

    outcome.one_line_error("HADAMARD_DEVICE")


@pytest.fixture
def model_copy(tmp_path):
    """The shipped model and its manifest, copied to ``tmp_path/model.npz`` and ``model.json``."""
    shutil.copy(SHIPPED_MODEL, tmp_path / "model.npz")
    shutil.copy(SHIPPED_MODEL.with_suffix(".json"), tmp_path / "model.json")
    return tmp_path / "model.npz"


@pytest.mark.parametrize("manifest", ['{"sha256": "', '["sha256"]', '{"sha256": 12}', "\xff\xfe", "[" * 100_000])
def test_a_broken_manifest_is_one_line(tmp_path, capsys, photo, model_copy, manifest):
    (tmp_path / "model.json").write_bytes(manifest.encode("latin-1"))
    before = snapshot(tmp_path)

    outcome = run_main(explain_main, ["--weights", model_copy, "--image", photo, *QUESTION,
                                      "--out", tmp_path / "o.png"], capsys)

    outcome.one_line_error("model.json")
    assert snapshot(tmp_path) == before


def model_with_config(tmp_path, **changes):
    metadata = load_npz_metadata(SHIPPED_MODEL)
    metadata["config"].update(changes)
    path = tmp_path / "changed.npz"
    save_weights(path, load_weights(SHIPPED_MODEL), metadata)
    return path


@pytest.mark.parametrize("changes", [{"word_dim": -5}, {"joint_dim": 0}, {"glimpses": -1}, {"image_size": "64"},
                                     {"backbone": {"layers": [-1], "width": 16}}, {"dropout": 2.0},
                                     {"max_length": None}, {"std": [0, 0, 0]}])
def test_a_model_config_out_of_range_is_one_line(tmp_path, capsys, photo, changes):
    model = model_with_config(tmp_path, **changes)

    outcome = run_main(explain_main, ["--weights", model, "--image", photo, *QUESTION, "--out", tmp_path / "o.png"],
                       capsys)

    outcome.one_line_error("config")


def test_nan_weights_are_one_line_even_with_json(tmp_path, capsys, photo):
    weights = load_weights(SHIPPED_MODEL)
    weights["mlb.linear_classif.bias"] = numpy.full_like(weights["mlb.linear_classif.bias"], numpy.nan)
    save_weights(tmp_path / "nan.npz", weights, load_npz_metadata(SHIPPED_MODEL))

    outcome = run_main(explain_main, ["--weights", tmp_path / "nan.npz", "--image", photo, *QUESTION,
                                      "--out", tmp_path / "o.png", "--json", tmp_path / "o.json"], capsys)

    outcome.one_line_error("NaN")
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("argument", [["--batch-images", "0"], ["--limit-images", "-5"], ["--width", "0"],
                                      ["--seed", "-1"], ["--seed", str(2 ** 32)], ["--joint-dim", "-3"],
                                      ["--clip", "nan"]])
def test_a_training_setting_out_of_range_is_one_line(tmp_path, capsys, argument):
    outcome = run_main(train_main, ["--out", tmp_path / "m.npz", "--epochs", "1", "--limit-images", "4",
                                    *argument], capsys)
    outcome.one_line_error(argument[0])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("out", [".", "./", "/", "", ".npz", "folder/"])
def test_a_training_out_without_a_file_name_is_one_line(tmp_path, capsys, monkeypatch, out):
    """--out names a file NAME.npz; a folder, the root or nothing at all is refused before anything is read."""
    monkeypatch.chdir(tmp_path)
    outcome = run_main(train_main, ["--out", out, "--epochs", "1", "--limit-images", "4"], capsys)
    outcome.one_line_error("--out", "not an empty one" if out == "" else "must be a file name ending in .npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argument", [["--seed", "-1"], ["--examples", "0"]])
def test_an_evaluation_setting_out_of_range_is_one_line(tmp_path, capsys, argument):
    outcome = run_main(evaluate_main, ["--out", tmp_path / "report", "--examples", "2", *argument], capsys)
    outcome.one_line_error(argument[0])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, content", [("words.txt", b"what\ncol\xffor\n"), ("words.json", b'["what", "\xff"]'),
                                           ("words.json", b"[" * 100_000 + b"]" * 100_000)])
def test_a_vocabulary_that_is_not_utf8_or_too_deep_is_a_weights_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=name.replace(".", r"\.")) as error:
        read_names(path, "words")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("size", ["1", "100000"])
def test_a_bench_image_size_out_of_range_is_one_line(capsys, size):
    outcome = run_main(bench_main, ["--size", size, "--depth", "50", "--runs", "1", "--warmup", "0", "--no-torch"],
                       capsys)
    outcome.one_line_error("--size")


@pytest.mark.parametrize("command", ["save-arrays", "out-dir", "data"])
def test_a_path_through_a_symlink_loop_is_one_line(tmp_path, capsys, photo, command):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    if command == "data":
        outcome = run_main(evaluate_main, ["--quick", "--data", tmp_path / "loop", "--out", tmp_path / "r"], capsys)
    elif command == "out-dir":
        (tmp_path / "pairs.jsonl").write_text(json.dumps({"image": str(photo), "question": "what shape?"}) + "\n")
        outcome = run_main(explain_main, ["--batch", tmp_path / "pairs.jsonl", "--out-dir", tmp_path / "loop" / "x"],
                           capsys)
    else:
        outcome = run_main(explain_main, ["--image", photo, "--question", "what shape?", "--out", tmp_path / "o.png",
                                          "--save-arrays", tmp_path / "loop" / "x.npz"], capsys)
    outcome.one_line_error("loop")  # the path named: Python 3.11 says "Symlink loop", 3.13 "symbolic links"


def test_an_error_about_a_very_long_path_shows_its_two_ends(tmp_path, capsys):
    image = "a/" * 50_000 + "x.png"
    line = run_main(explain_main, ["--image", image, "--question", "what shape?", "--out", tmp_path / "o.png"],
                    capsys).one_line_error("characters) …", "x.png")
    assert len(line) < 1200


def test_a_home_that_cannot_be_written_adds_no_lines_of_matplotlib(tmp_path):
    """Where HOME cannot be written, matplotlib warned in two lines about its cache folder before every figure."""
    home = {"HOME": "/proc/self/none", "MPLCONFIGDIR": "", "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": ""}
    outcome = run_child(["hadamard_min.cli.explain", "--out", tmp_path / "o.png"], tmp_path, env=home).success()
    assert outcome.err == "" and (tmp_path / "o.png").exists(), outcome.err


@pytest.mark.parametrize("argv", [["evaluate", "--out", ""], ["evaluate", "--weights", ""], ["train", "--out", ""],
                                  ["exercises", "start", ""], ["exercises", "grade", "--dir", ""],
                                  ["port", "", "o.npz"], ["port", "w.npz", ""]],
                         ids=" ".join)
def test_an_empty_path_is_one_line_in_every_command(tmp_path, capsys, monkeypatch, argv):
    """pathlib reads "" as ".": `hadamard-evaluate --out "" --force` wrote its report into the folder it ran in
    (hadamard-port said "weights file not found: ;" and ": the destination must end in .npz")."""
    from hadamard_min.cli.exercises import main as exercises_main
    from hadamard_min.cli.port import main as port_main
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    main = {"evaluate": evaluate_main, "train": train_main, "exercises": exercises_main, "port": port_main}[argv[0]]
    outcome = run_main(main, [*argv[1:], *(["--force"] if argv[0] == "evaluate" else [])], capsys)
    outcome.one_line_error("expected a path, not an empty one")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_explanation_saved_to_an_empty_path_is_refused():
    import hadamard_min as hm
    e = hm.explain(hm.load_model(), *hm.example())
    for method in (e.save, hm.Explanation.load):
        with pytest.raises(hm.ExplainArgumentError, match="the path is empty"):
            method("")
