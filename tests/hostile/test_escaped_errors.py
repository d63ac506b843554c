"""Errors that used to escape the one-line handler (a traceback, or a status that says nothing): an output that
is an existing non-explanation file or a link to nothing, titles and folder names that are not UTF-8 or look
like matplotlib formulas, standard streams closed at start, a corrupt .npy header inside an .npz, the Python
API's arguments of the wrong type, and a Torch7 modules table with mixed keys.
"""
import os
import shutil
import subprocess
import sys
import zipfile

import numpy
import pytest
from hostile_helpers import ROOT, run_main, snapshot, write_photo
from t7_writer import write_t7

from hadamard_min.cli.evaluate import main as evaluate_main
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.port import main as port_main
from hadamard_min.cli.saliency import main as saliency_main
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.methods import explain
from hadamard_min.explain.notebook import overlay
from hadamard_min.explain.result import Explanation
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.model_files import SHIPPED_MODEL, load_model
from hadamard_min.io.npz import save_weights
from hadamard_min.io.porting.torch7 import TorchObject
from hadamard_min.io.porting.torch7_mlb import read_gru_t7, read_lookup_t7
from hadamard_min.models.efficientnet import EfficientNetLite

QUESTION = ["--question", "what shape is in the image?"]


@pytest.mark.parametrize("kind", ["weights", "dangling link"])
def test_save_arrays_onto_a_file_that_is_not_an_explanation_is_one_line_and_writes_nothing(tmp_path, capsys, photo,
                                                                                          kind):
    target = tmp_path / "arrays.npz"
    if kind == "weights":
        save_weights(target, {"w": numpy.ones(3, numpy.float32)})
    else:
        target.symlink_to(tmp_path / "nowhere.npz")
    before = snapshot(tmp_path)
    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png",
                                      "--save-arrays", target, "--json", tmp_path / "out.json"], capsys)
    outcome.one_line_error("--save-arrays", "arrays.npz", "nothing was written")
    assert snapshot(tmp_path) == before and os.path.lexists(target)


def test_an_existing_explanation_is_still_replaced_by_save_arrays(tmp_path, capsys, photo):
    target = tmp_path / "arrays.npz"
    argv = ["--image", photo, "--out", tmp_path / "out.png", "--save-arrays", target]
    run_main(explain_main, [*argv, *QUESTION], capsys).success()
    run_main(explain_main, [*argv, "--question", "what color is the shape?"], capsys).success()
    assert Explanation.load(target).question == "what color is the shape?"


@pytest.fixture(scope="module")
def lite0_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("lite0") / "lite0.npz"
    save_weights(path, EfficientNetLite(rng=numpy.random.default_rng(3)).state_dict())
    return path


@pytest.mark.parametrize("name", [b"ph\xffoto.png", b"a$\\frac$.png", b"$x^$.png"])
def test_hadamard_saliency_titles_a_file_name_as_plain_text(tmp_path, capsys, photo, lite0_weights, name):
    image = os.fsdecode(os.fsencode(tmp_path) + b"/" + name)
    shutil.copy(photo, image)
    outcome = run_main(saliency_main, [image, "--weights", lite0_weights, "--out", tmp_path / "s.png"], capsys)
    outcome.success()
    assert (tmp_path / "s.png").stat().st_size > 0


def test_hadamard_evaluate_reports_on_a_folder_whose_name_is_not_utf8(tmp_path, capsys, photo):
    folder = os.fsdecode(os.fsencode(tmp_path) + b"/my\xffdata")
    os.mkdir(folder)
    shutil.copy(photo, os.path.join(folder, "a.png"))
    with open(os.path.join(folder, "questions.jsonl"), "w") as file:
        file.write('{"image": "a.png", "question": "what shape is in the image?", "answer": "rectangle"}\n')
    outcome = run_main(evaluate_main, ["--data", folder, "--examples", "1", "--out", tmp_path / "report"], capsys)
    outcome.success()
    assert {"results.json", "report.md"} <= {path.name for path in (tmp_path / "report").iterdir()}
    assert "my\ufffddata" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")


def run_with_closed(fd, args, cwd):
    """The console command ``python -m hadamard_min.cli.explain ARGS`` with file descriptor ``fd`` closed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "hadamard_min.cli.explain", *map(str, args)], cwd=cwd, env=env,
                          capture_output=fd != 1 and fd != 2, stdout=subprocess.PIPE if fd == 2 else None,
                          stderr=subprocess.PIPE if fd == 1 else None, preexec_fn=lambda: os.close(fd), timeout=120)


def test_json_to_a_closed_stdout_is_one_line_and_writes_nothing(tmp_path, photo):
    done = run_with_closed(1, ["--image", photo, *QUESTION, "--out", "out.png", "--json", "-"], tmp_path)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "standard output is closed" in lines[0], done.stderr
    assert not (tmp_path / "out.png").exists()


def test_json_to_stdout_with_stderr_closed_still_writes_the_json(tmp_path, photo):
    done = run_with_closed(2, ["--image", photo, *QUESTION, "--out", "out.png", "--json", "-"], tmp_path)
    assert done.returncode == 0 and b'"answer"' in done.stdout and (tmp_path / "out.png").exists()


def npz_with_a_corrupt_header(path, header, original=SHIPPED_MODEL):
    """``path``: ``original`` with the .npy header of its first entry replaced by ``header``."""
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(path, "w") as target:
        for number, info in enumerate(source.infolist()):
            data = source.read(info)
            if number == 0:
                length = int.from_bytes(data[8:10], "little")
                text = header.ljust(length - 1) + b"\n"
                data = data[:10] + text[:length] + data[10 + length:]
            target.writestr(info.filename, data)
    return path


HEADERS = [b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, \"\"\"}",   # tokenize.TokenError
           b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,) + (4,)}",
           b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, ["]


@pytest.mark.parametrize("header", HEADERS)
def test_a_corrupt_npy_header_is_one_line_through_weights_and_port(tmp_path, capsys, photo, header):
    model = npz_with_a_corrupt_header(tmp_path / "model.npz", header)
    outcome = run_main(explain_main, ["--weights", model, "--image", photo, *QUESTION, "--out", tmp_path / "o.png"],
                       capsys)
    outcome.one_line_error("model.npz", "corrupt")
    outcome = run_main(port_main, [model, tmp_path / "ported.npz"], capsys)
    outcome.one_line_error("model.npz", "corrupt")
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "ported.npz").exists()


@pytest.fixture(scope="module")
def explanation(tmp_path_factory):
    return explain(load_model(), write_photo(tmp_path_factory.mktemp("e") / "p.png"), "what shape is it?")


@pytest.mark.parametrize(("call", "argument"), [
    (lambda e: e.save(123), "path"),
    (lambda e: e.save(None), "path"),
    (lambda e: Explanation.load(None), "path"),
    (lambda e: Explanation.load(3.5), "path"),
    (lambda e: overlay(e.image, "heat"), "heatmap"),
    (lambda e: overlay(e.image, [[1, 2], [3]]), "heatmap"),
    (lambda e: overlay(e.image, e.heatmap, cmap="nope"), "cmap"),
    (lambda e: overlay(e.image, e.heatmap, cmap=None), "cmap"),
])
def test_the_api_refuses_an_argument_of_the_wrong_kind_by_its_name(explanation, call, argument):
    with pytest.raises(ExplainArgumentError, match=f"^{argument} must be"):
        call(explanation)


def test_an_explanation_saved_through_the_api_onto_a_model_file_is_refused_in_words(explanation, tmp_path):
    shutil.copy(SHIPPED_MODEL, tmp_path / "model.npz")
    with pytest.raises(ValueError, match="not an explanation file"):
        explanation.save(tmp_path / "model.npz")
    assert (tmp_path / "model.npz").read_bytes() == SHIPPED_MODEL.read_bytes()


@pytest.mark.parametrize("keys", [(1, "x"), ("a", "b"), (1, 2, "n")])
@pytest.mark.parametrize("reader", [read_lookup_t7, read_gru_t7])
def test_a_torch7_modules_table_with_keys_that_are_not_numbers_is_a_port_error(tmp_path, keys, reader):
    leaf = TorchObject("nn.Linear", {"weight": numpy.ones((2, 2), numpy.float32)})
    container = TorchObject("nn.Sequential", {"modules": {key: leaf for key in keys}})
    write_t7(tmp_path / "m.t7", container)
    with pytest.raises(WeightsError, match="modules table"):
        reader(tmp_path / "m.t7")


def test_a_saved_explanation_with_a_corrupt_npy_header_is_refused_in_words(explanation, tmp_path):
    saved = explanation.save(tmp_path / "saved.npz")
    with pytest.raises(WeightsError, match="corrupt"):
        Explanation.load(npz_with_a_corrupt_header(tmp_path / "e.npz", HEADERS[0], saved))
