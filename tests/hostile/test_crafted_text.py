"""Text a file brings that a figure draws: a figure draws an answer, a token or the question on one line, at
about 0.2 ms a character, so a 750 KB model file whose answer "yes" was renamed to 200,000 characters kept
hadamard-explain drawing for 100 s (a 32 MiB one for hours); a saved explanation with a million-character
token likewise. Names are bounded as counts are (a million unknown words or options, 5 MB of JSON in a 100 KB file,
cost 10 s to every check of the explanation); and a saved explanation's framing is checked field by field
(an infinite size escaped as OverflowError, a box of five numbers as a bare ValueError)."""
import json
import time

import numpy
import pytest
from hostile_helpers import run_main, write_photo

import hadamard_min as hm
from hadamard_min.cli.explain import main as explain
from hadamard_min.explain.result import Explanation
from hadamard_min.explain.saved import ExplanationFileError
from hadamard_min.io.limits import MAX_NAME_CHARS
from hadamard_min.io.model_files import SHIPPED_MODEL, ModelFileError, load_model
from hadamard_min.io.npz import save_weights
from hadamard_min.io.porting.common import PortError
from hadamard_min.io.porting.index_files import read_names
from hadamard_min.io.weights import load_npz_metadata, load_weights


def _model_with_answer(path, answer):
    """The shipped model, its answer "yes" renamed ``answer`` (no manifest: nothing checks its sha256)."""
    metadata = load_npz_metadata(SHIPPED_MODEL)
    metadata["answers"] = [answer if name == "yes" else name for name in metadata["answers"]]
    save_weights(path, load_weights(SHIPPED_MODEL), metadata)
    return path


def test_a_model_file_with_an_overlong_answer_is_refused_before_anything_is_drawn(tmp_path, capsys):
    path = _model_with_answer(tmp_path / "long.npz", "y" * (MAX_NAME_CHARS + 1))
    with pytest.raises(ModelFileError, match="answers holds a name of 1,001 characters"):
        load_model(path)
    started = time.perf_counter()
    run_main(explain, ["--weights", path, "--out", tmp_path / "e.png"], capsys).one_line_error("1,001 characters")
    assert time.perf_counter() - started < 10 and not (tmp_path / "e.png").exists()


def test_a_name_of_the_largest_length_still_loads(tmp_path):
    model = load_model(_model_with_answer(tmp_path / "longest.npz", "y" * MAX_NAME_CHARS))
    assert "y" * MAX_NAME_CHARS in model.answers


def test_an_answers_file_with_an_overlong_answer_is_refused(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(["yes", "n" * (MAX_NAME_CHARS + 1)]))
    with pytest.raises(PortError, match="answer of id 1 has 1,001 characters"):
        read_names(path, "answers")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    hm.explain(load_model(), write_photo(folder / "p.png"), "what shape is it?").save(folder / "e.npz")
    return folder / "e.npz"


def _rewritten(saved, path, **changes):
    """``saved`` with some of its JSON fields replaced (``framing_*``: a field of its framing)."""
    fields = load_npz_metadata(saved)["explanation"]
    framing = {**fields["framing"], **{key[8:]: value for key, value in changes.items() if key.startswith("framing_")}}
    text = {key: value for key, value in changes.items() if not key.startswith("framing_")}
    save_weights(path, load_weights(saved), metadata={"explanation": {**fields, "framing": framing, **text}})
    return path


@pytest.mark.parametrize("changes, words", [
    ({"question": "q" * 20_001}, "20,001 characters in its question"),
    ({"answer": "a" * 1_001}, "1,001 characters in its longest token or answer"),
    ({"top_k": [["a" * 1_001, 0.5]]}, "1,001 characters in its longest token or answer"),
    ({"top_k": [["a" * 1_000, 0.001]] * 201}, "201,000 characters in its listed answers"),
    ({"unknown_words": ["a"] * 1_025}, "1,025 unknown words"),  # a million took 10 s to each draw, save, to_json
    ({"options": {f"o{i}": i for i in range(65)}}, "65 options"),
    ({"options": {"x": [[0] * 1_000] * 1_000}}, "options must be an object of finite numbers"),  # a million entries
], ids=["question", "answer", "top_k name", "top_k together", "unknown words", "options", "nested options"])
def test_a_saved_explanation_with_overlong_text_is_refused_at_once(saved, tmp_path, changes, words):
    path = _rewritten(saved, tmp_path / "crafted.npz", **changes)
    started = time.perf_counter()
    with pytest.raises(ExplanationFileError, match=words):
        Explanation.load(path)
    assert time.perf_counter() - started < 2.0


def test_a_saved_explanation_with_an_overlong_token_is_refused(saved, tmp_path):
    fields = load_npz_metadata(saved)["explanation"]
    path = _rewritten(saved, tmp_path / "crafted.npz", tokens=["t" * 1_001, *fields["tokens"][1:]])
    with pytest.raises(ExplanationFileError, match="1,001 characters in its longest token"):
        Explanation.load(path)


@pytest.mark.parametrize("changes, words", [
    ({"framing_input_size": float("inf")}, "input_size is inf"),
    ({"framing_image_size": [float("inf"), 1]}, "image_size is"),
    ({"framing_image_size": [64.5, 64]}, "image_size is"),
    ({"framing_box": [0, 0, 1, 1, 1]}, "box is"),
    ({"framing_box": [0, 0, float("nan"), 1]}, "box is"),
    ({"framing_fit": None}, "fit is None"),
    ({"framing": [1, 2]}, "a framing is an object"),
], ids=["infinite input", "infinite image", "fractional", "five numbers", "NaN", "fit null", "a list"])
def test_a_saved_explanation_with_a_malformed_framing_is_refused_naming_it(saved, tmp_path, changes, words):
    if "framing" in changes:
        fields = load_npz_metadata(saved)["explanation"]
        save_weights(tmp_path / "crafted.npz", load_weights(saved), metadata={"explanation": {**fields, **changes}})
        path = tmp_path / "crafted.npz"
    else:
        path = _rewritten(saved, tmp_path / "crafted.npz", **changes)
    with pytest.raises(ExplanationFileError, match=f"framing is not a valid framing .*{words}"):
        Explanation.load(path)


def test_the_saved_explanation_itself_still_loads(saved):
    loaded = Explanation.load(saved)
    assert loaded.framing.input_size == 64 and numpy.isfinite(loaded.heatmap).all()


def test_a_question_whose_explanation_could_not_be_drawn_or_saved_is_refused_first(tmp_path, capsys):
    """A word of 1,500 characters made an explanation that --save-arrays then refused with a traceback."""
    from hadamard_min.data.text import QuestionError, tokenize

    with pytest.raises(QuestionError, match="word 2 has 1,001 characters"):
        tokenize("what " + "w" * 1_001)
    with pytest.raises(QuestionError, match="20,001 characters"):
        tokenize("a" * 20_001)
    assert tokenize("what " + "w" * 1_000) == ["what", "w" * 1_000]
    outcome = run_main(explain, ["--question", "what " + "w" * 1_500, "--out", tmp_path / "e.png",
                                 "--save-arrays", tmp_path / "e.npz"], capsys)
    outcome.one_line_error("1,500 characters")
    assert not list(tmp_path.iterdir())


def test_a_saved_explanation_with_an_infinite_option_is_refused(saved, tmp_path):
    """JSON text "Infinity" (Python's json reads it) loaded as an option: e.to_json() was then no strict JSON."""
    fields = load_npz_metadata(saved)["explanation"]
    path = tmp_path / "crafted.npz"
    numpy.savez(path, **load_weights(saved), __explanation__=numpy.array(json.dumps(
        {**fields, "options": {"top_k": float("inf")}})))
    with pytest.raises(ExplanationFileError, match="options must be an object of finite numbers"):
        Explanation.load(path)


def test_a_saved_explanation_of_no_known_method_is_refused(saved, tmp_path):
    """"method": "bogus" loaded, and its maps were drawn under that label."""
    fields = load_npz_metadata(saved)["explanation"]
    path = tmp_path / "crafted.npz"
    numpy.savez(path, **load_weights(saved), __explanation__=numpy.array(json.dumps({**fields, "method": "bogus"})))
    with pytest.raises(ExplanationFileError, match="method must be one of hadamard, guided, saliency"):
        Explanation.load(path)


@pytest.mark.parametrize("mark", [True, 1.0, "1", None])
def test_a_file_of_another_format_mark_is_not_an_explanation_file(saved, tmp_path, mark):
    """"format": true or 1.0 was read as format 1 (True == 1)."""
    fields = load_npz_metadata(saved)["explanation"]
    path = tmp_path / "crafted.npz"
    numpy.savez(path, **load_weights(saved), __explanation__=numpy.array(json.dumps({**fields, "format": mark})))
    with pytest.raises(ExplanationFileError, match="not an explanation file"):
        Explanation.load(path)
