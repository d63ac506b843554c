"""hadamard-evaluate --data DIR: your own images, questions.jsonl and optional masks (tests/data/my_vqa)."""
import json
import shutil
from pathlib import Path

import numpy
import pytest
from PIL import Image

from hadamard_min.cli.evaluate import main
from hadamard_min.data.easyvqa import DataError, background_mask
from hadamard_min.data.folder import load_folder
from hadamard_min.data.images import fit
from hadamard_min.data.text import Vocabulary
from hadamard_min.evaluate.run import object_masks
from hadamard_min.io.model_files import save_model
from hadamard_min.models.vqa import build_vqa_model

EXAMPLE = Path(__file__).resolve().parent / "data" / "my_vqa"
CONFIG = {"backbone": {"layers": [1], "width": 4}, "image_size": 32, "word_dim": 4, "question_dim": 8,
          "joint_dim": 4, "glimpses": 2, "max_length": 12}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    data = load_folder(EXAMPLE)
    model = build_vqa_model(CONFIG, Vocabulary.build(data.questions), ["circle", "red", "yes", "blue", "no"],
                            rng=numpy.random.default_rng(0))
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    save_model(path, model.eval())
    return path


def test_the_example_folder_reads_as_documented():
    data = load_folder(EXAMPLE)
    assert len(data) == 6 and data.image_paths == ["red_circle.png", "blue_rectangle.png", "green_triangle.png"]
    assert data.image_index.tolist() == [0, 0, 1, 1, 2, 2] and data.answers[-1] is None
    assert [image.shape for image in data.images] == [(64, 64, 3), (64, 64, 3), (64, 80, 3)]
    assert data.masks[2] is None
    for image, mask in zip(data.images[:2], data.masks[:2]):   # the masks cover the drawn shapes
        numpy.testing.assert_array_equal(mask, numpy.any(image != image[0, 0], axis=2))


def test_a_mask_follows_the_images_geometry_into_the_network():
    data = load_folder(EXAMPLE)
    assert data.object_mask(4, 32, crop=False) is None
    same = data.object_mask(0, 64, crop=False)
    numpy.testing.assert_array_equal(same, data.masks[0])
    for crop in (False, True):
        small = data.object_mask(0, 32, crop)
        shape = fit(data.images[0], 32, crop)[..., 1] < (30 + 245) / 2   # green: 30 on the red circle, 245 off
        assert small.shape == (32, 32) and (small & shape).sum() / (small | shape).sum() >= 0.98


FOLLOWS = "whether a map follows the question is not measured: that needs --data two-shape"


def run(model_file, data, out, *extra):
    return main(["--weights", str(model_file), "--data", str(data), "--examples", "6", "--out", str(out), *extra])


def test_evaluate_on_the_example_folder(model_file, tmp_path, capsys):
    assert run(model_file, EXAMPLE, tmp_path / "report") == 0
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["notes"] == [FOLLOWS] and results["accuracy"]["n"] == 5   # one question has no answer
    pointing = results["tables"]["pointing"]
    assert pointing["hadamard"]["score"]["n"] == 4                            # the 4 questions with a mask
    assert all(0.0 <= v <= 1.0 for v in results["tables"]["mass"]["hadamard"]["score"]["values"])
    assert len(results["tables"]["deletion"]["hadamard"]["auc"]["values"]) == 6
    assert "Data: the folder my_vqa, 6 questions" in (tmp_path / "report" / "report.md").read_text()
    assert "| hadamard |" in capsys.readouterr().out


def test_without_masks_and_answers_those_metrics_are_skipped_with_a_note(model_file, tmp_path, capsys):
    folder = tmp_path / "plain"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("masks"))
    lines = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    (folder / "questions.jsonl").write_text("".join(json.dumps({k: v for k, v in line.items() if k != "answer"})
                                                    + "\n" for line in lines))
    assert run(model_file, folder, tmp_path / "report") == 0
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert not {"pointing", "mass"} & set(results["tables"]) and "deletion" in results["tables"]
    assert any("mask" in note for note in results["notes"]) and any("answer" in n for n in results["notes"])
    err = capsys.readouterr().err
    assert "note: no object masks" in err and "\r" not in err
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Note: no object masks" in report and "## Pointing game" not in report


def test_built_in_data_still_uses_the_background_masks():
    image = numpy.full((8, 8, 3), 250, numpy.uint8)
    image[2:5, 3:6] = (200, 0, 0)
    masks = object_masks(None, object(), [0], image[None])
    numpy.testing.assert_array_equal(masks[0], background_mask(image))


@pytest.mark.parametrize("case, words", [
    ("no-listing", "has no questions.jsonl"),
    ("not-json", "questions.jsonl line 2: the line is not JSON"),
    ("no-question", 'line 1: "question" is missing'),
    ("answer-not-text", '"answer" must be a string'),
    ("missing-image", "image not found"),
    ("mask-size", "must have its image's size"),
    ("empty", "holds no questions"),
    ("punctuation", "line 2: the question is empty"),
    ("too-long", "line 2: the question has 13 words but the model reads at most 12"),
    ("answer-key-case", "line 1: the key 'Answer' is not read"),   # was no answer, without a word
    ("one-mask-two-images", "masks/red_circle.png would be the mask of two images"),
    ("absolute", "line 1: \"image\" is '/"),            # its mask's name was the image itself: all object
    ("above", "line 1: \"image\" is '../data/red_circle.png', outside the folder"),
])
def test_bad_folders_are_one_line_errors_and_leave_nothing(model_file, tmp_path, case, words, capsys):
    folder = tmp_path / "data"
    shutil.copytree(EXAMPLE, folder)
    listing = folder / "questions.jsonl"
    first = '{"image": "red_circle.png", "question": "what is it?"}\n'
    text = {"no-listing": None, "not-json": first + "{oops\n", "no-question": '{"image": "red_circle.png"}\n',
            "answer-not-text": '{"image": "red_circle.png", "question": "what?", "answer": 3}\n',
            "missing-image": '{"image": "gone.png", "question": "what is it?"}\n', "mask-size": first,
            "empty": "\n", "punctuation": first + '{"image": "red_circle.png", "question": "?!?"}\n',
            "too-long": first + json.dumps({"image": "red_circle.png", "question": "what " * 13}) + "\n",
            "answer-key-case": '{"image": "red_circle.png", "question": "what is it?", "Answer": "red"}\n',
            "one-mask-two-images": first + '{"image": "red_circle.jpg", "question": "what is it?"}\n',
            "absolute": json.dumps({"image": str(folder / "red_circle.png"), "question": "what is it?"}) + "\n",
            "above": '{"image": "../data/red_circle.png", "question": "what is it?"}\n'}[case]
    listing.unlink()
    if text is not None:
        listing.write_text(text)
    if case == "one-mask-two-images":   # its mask was red_circle.png's, without a word
        Image.open(folder / "red_circle.png").convert("RGB").save(folder / "red_circle.jpg")
    if case == "mask-size":
        shutil.copy(folder / "green_triangle.png", folder / "masks" / "red_circle.png")   # 80×64, not 64×64
    assert run(model_file, folder, tmp_path / "report") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "report").exists()


def test_a_report_never_replaces_an_input_that_shares_its_name(model_file, tmp_path, capsys):
    """Two images called examples.png (the report's figure) in two subfolders, --out one of them, --force:
    both are inputs, so the run is refused and neither is touched."""
    folder = tmp_path / "data"
    for sub, image in (("a", "red_circle.png"), ("b", "blue_rectangle.png")):
        (folder / sub).mkdir(parents=True)
        shutil.copy(EXAMPLE / image, folder / sub / "examples.png")
    (folder / "questions.jsonl").write_text('{"image": "a/examples.png", "question": "what shape?"}\n'
                                            '{"image": "b/examples.png", "question": "what color?"}\n')
    before = {sub: (folder / sub / "examples.png").read_bytes() for sub in "ab"}
    for sub in "ab":
        assert run(model_file, folder, folder / sub, "--force") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "same file as the input" in err[0] and f"{sub}/examples.png" in err[0], err
    assert before == {sub: (folder / sub / "examples.png").read_bytes() for sub in "ab"}


def test_checking_many_images_shows_how_far_it_has_got(tmp_path, capsys):
    rows = []
    for k in range(130):
        Image.fromarray(numpy.full((4, 4, 3), k, numpy.uint8)).save(tmp_path / f"{k}.png")
        rows.append(json.dumps({"image": f"{k}.png", "question": "what color is it?"}))
    (tmp_path / "questions.jsonl").write_text("\n".join(rows) + "\n")
    assert len(load_folder(tmp_path)) == 130
    steps = [line.split()[2] for line in capsys.readouterr().err.splitlines() if line.startswith("checking images")]
    assert steps == ["64/130", "128/130", "130/130"]
    (tmp_path / "questions.jsonl").write_text("\n".join(rows[:64]) + "\n")
    load_folder(tmp_path)
    assert capsys.readouterr().err == ""  # a short listing: no progress


def test_an_unreadable_image_ends_the_bar_before_its_error_line(model_file, tmp_path, monkeypatch, capsys):
    """On a terminal the check's bar stayed open and the error went on its line, after "ETA 0:00"."""
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    rows = []
    for k in range(130):
        Image.fromarray(numpy.full((4, 4, 3), k, numpy.uint8)).save(tmp_path / f"{k}.png")
        rows.append(json.dumps({"image": f"{k}.png", "question": "what color is it?"}))
    (tmp_path / "100.png").write_bytes(b"not a picture")
    (tmp_path / "questions.jsonl").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr("sys.stderr", screen := Terminal())
    assert run(model_file, tmp_path, tmp_path / "report") == 2
    last = screen.getvalue().split("\r")[-1].splitlines()
    assert len(last) == 2 and last[1].startswith("hadamard-evaluate: error: cannot read image"), last


@pytest.mark.parametrize("saved_as", ["16-bit 0 and 1", "white on transparent", "16-bit with a transparent value",
                                      "gray on a transparent palette"])
def test_a_mask_is_read_by_its_values_not_as_a_viewer_shows_it(tmp_path, saved_as):
    """Composited on white, a transparent background was all object; rounded to 8 bits, a 16-bit mask of 0 and
    1 was all black: the report's pointing and mass were of the whole image, or of nothing, without a word."""
    folder = tmp_path / "data"
    shutil.copytree(EXAMPLE, folder)
    drawn = load_folder(EXAMPLE).masks[0]
    if saved_as == "16-bit 0 and 1":
        Image.fromarray(drawn.astype(numpy.uint16)).save(folder / "masks" / "red_circle.png")
    elif saved_as == "16-bit with a transparent value":
        Image.fromarray(numpy.where(drawn, 300, 9).astype(numpy.uint16)).save(folder / "masks" / "red_circle.png",
                                                                               transparency=9)
    elif saved_as == "white on transparent":
        rgba = numpy.zeros(drawn.shape + (4,), numpy.uint8)
        rgba[drawn] = 255
        Image.fromarray(rgba).save(folder / "masks" / "red_circle.png")
    else:
        Image.fromarray(numpy.where(drawn, 200, 7).astype(numpy.uint8), "L").convert("P").save(
            folder / "masks" / "red_circle.png", transparency=7)
    numpy.testing.assert_array_equal(load_folder(folder).masks[0], drawn)


def test_a_mask_that_marks_no_object_is_refused(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(EXAMPLE, folder)
    Image.new("RGBA", (64, 64), (255, 255, 255, 0)).save(folder / "masks" / "red_circle.png")
    with pytest.raises(DataError, match=r"red_circle\.png marks no object"):
        load_folder(folder)


@pytest.fixture(scope="module")
def earlier_report(model_file, tmp_path_factory):
    """A report, written again over itself with --force: an earlier report's files are replaced."""
    out = tmp_path_factory.mktemp("earlier") / "report"
    assert run(model_file, EXAMPLE, out) == 0
    assert run(model_file, EXAMPLE, out, "--force") == 0
    return out


@pytest.mark.parametrize(("name", "content"), [("report.md", b"# my notes on the run\n"),
                                               ("results.json", b"[1, 2]\n"),
                                               ("examples.png", b"GIF89a")])
def test_force_replaces_an_earlier_report_not_your_file_of_its_name(model_file, earlier_report, tmp_path, capsys,
                                                                    name, content):
    """--force wrote over a report.md of notes, a results.json of other data, a GIF called examples.png."""
    out = tmp_path / "report"
    shutil.copytree(earlier_report, out)
    (out / name).write_bytes(content)
    capsys.readouterr()
    assert run(model_file, EXAMPLE, out, "--force") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--out's {name}" in err[0] and "nothing was written" in err[0], err
    assert (out / name).read_bytes() == content


def test_an_answer_the_model_never_gives_is_noted_not_silently_wrong(model_file, tmp_path, capsys):
    folder = tmp_path / "data"
    shutil.copytree(EXAMPLE, folder)
    listing = folder / "questions.jsonl"
    listing.write_text(listing.read_text().replace('"answer": "red"', '"answer": "Red\\u001b[31m"'))
    assert run(model_file, folder, tmp_path / "report") == 0
    said = [note for note in json.loads((tmp_path / "report" / "results.json").read_text())["notes"]
            if "none the model can give" in note]
    assert said == ["1 answer(s) of the data are none the model can give ('Red\\x1b[31m'): the questions with them "
                    "count as answered wrong"]
    err = capsys.readouterr().err
    assert "note: 1 answer(s)" in err and "\x1b" not in err


def test_one_question_with_words_the_model_never_saw_is_reported_as_such(model_file, tmp_path, capsys):
    """One question, two of its words unseen: the report says so, gives no [v, v] interval for one value, and the
    command says it evaluates 1 question, not --examples' 6."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(EXAMPLE / "red_circle.png", folder)
    (folder / "questions.jsonl").write_text('{"image": "red_circle.png", "question": "wat colour is the blob?"}\n')
    assert run(model_file, folder, tmp_path / "report") == 0
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert "1 of 1 question(s) have words the model never saw, read as <unk> ('blob', 'colour', 'wat')" in \
        " ".join(results["notes"]) and FOLLOWS in results["notes"]
    captured = capsys.readouterr()
    assert "on 1 data test questions" in captured.err and "note: 1 of 1 question(s)" in captured.err
    rows = [line for line in captured.out.splitlines() if line.startswith("| hadamard |")]
    assert rows and "(one value)" in rows[0] and "[" not in rows[0], rows
    report = (tmp_path / "report" / "report.md").read_text()
    assert "the folder data, 1 question drawn with seed 0; the model answers" in report and " of it " in report


@pytest.mark.parametrize("image", ["\\red_circle.png", "C:red_circle.png"])
def test_a_windows_path_anchored_without_being_absolute_is_outside_the_folder(tmp_path, monkeypatch, image):
    """Windows' is_absolute is false for a path from the drive's root (\\a.png) or on a drive (C:a.png): joined to
    the folder either leaves it, the image and its mask's name alike. Read here as Windows reads it."""
    import pathlib

    import hadamard_min.data.folder as folder_module
    monkeypatch.setattr(folder_module, "PurePath", pathlib.PureWindowsPath)
    (tmp_path / "questions.jsonl").write_text(json.dumps({"image": image, "question": "what is it?"}) + "\n")
    with pytest.raises(DataError, match="outside the folder"):
        load_folder(tmp_path)
