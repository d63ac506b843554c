"""Images, class 2: memory is bounded before every resize and every read of a folder. A PNG of a few hundred
bytes may declare 20000×1 or 1×200000 pixels (inside the 64-megapixel limit): resizing its shorter side to 448
first would make 8,960,000×448 pixels (16 GB). An 8192² PNG listed under twelve spellings of its name must not
be held twelve times. Each case runs in a child under a 3 GB address-space limit (RLIMIT_AS) and must finish
with its normal exit status."""
import json
import subprocess
import sys
import tracemalloc

import numpy
import pytest
from hostile_helpers import ROOT, run_child, run_main
from image_files import blank_png
from PIL import Image

from hadamard_min.cli import explain_batch
from hadamard_min.cli.explain import main as explain
from hadamard_min.data.folder import load_folder
from hadamard_min.data.text import Vocabulary
from hadamard_min.io.model_files import save_model
from hadamard_min.io.weights import save_weights
from hadamard_min.models.efficientnet import EfficientNetLite
from hadamard_min.models.vqa import build_vqa_model

CAP = {"RLIMIT_AS": 3 << 30}
SHAPES = {"20000x1": (20000, 1), "1x20000": (1, 20000), "200000x1": (200000, 1), "1x200000": (1, 200000)}
QUESTION = "what shape is it?"


def capped(code, *args):
    """``python -c code args`` in a child under ``CAP``: (status, stdout + stderr)."""
    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (CAP["RLIMIT_AS"], CAP["RLIMIT_AS"]))
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
                          preexec_fn=limit)
    return done.returncode, done.stdout + done.stderr


EVERY_RESIZE = """
import sys
from hadamard_min.data.images import fit, load_image
from hadamard_min.models.efficientnet import EfficientNetLite
image = load_image(sys.argv[1])
pictures = [fit(image, 448, crop=True), fit(image, 64, crop=False), fit(image, 1024, crop=False),
            fit(image, 1024, crop=True), EfficientNetLite.prepare_image(None, image)[0]]  # uses no weights
print([picture.shape[:2] for picture in pictures])
"""


@pytest.mark.parametrize("shape", SHAPES)
def test_every_resize_of_a_long_thin_image_fits_in_3_gb(tmp_path, shape):
    """The paper's 448 crop (the preset), the small models' squeeze, EfficientNet's 256 → 224 crop."""
    path = blank_png(tmp_path / f"{shape}.png", *SHAPES[shape])
    status, output = capped(EVERY_RESIZE, path)
    assert status == 0, output
    assert output.strip() == "[(448, 448), (64, 64), (1024, 1024), (1024, 1024), (224, 224)]", output


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "lite0_random.npz"
    save_weights(path, EfficientNetLite(rng=numpy.random.default_rng(3)).state_dict())
    return path


@pytest.mark.parametrize("shape", ["20000x1", "1x200000"])
def test_saliency_of_a_long_thin_image_fits_in_3_gb(tmp_path, lite0, shape):
    path = blank_png(tmp_path / "thin.png", *SHAPES[shape])
    outcome = run_child(["hadamard_min.cli.saliency", path, "--weights", lite0, "--out", tmp_path / "s.png"],
                        tmp_path, limits=CAP)
    outcome.success()
    assert (tmp_path / "s.png").is_file() and "p = " in outcome.out


@pytest.fixture(scope="module")
def cropping_model(tmp_path_factory):
    """A tiny VQA model that sees images as the paper's preset does: shorter side to 448, centre crop."""
    config = {"backbone": {"layers": [1], "width": 4}, "image_size": 448, "crop": True, "word_dim": 4,
              "question_dim": 8, "joint_dim": 4, "glimpses": 1, "max_length": 12}
    model = build_vqa_model(config, Vocabulary.build([QUESTION]), ["circle", "square"],
                            rng=numpy.random.default_rng(0))
    path = tmp_path_factory.mktemp("model") / "crop448.npz"
    save_model(path, model.eval())
    return path


def pairs_file(folder, names):
    pairs = folder / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"image": name, "question": QUESTION}) + "\n" for name in names))
    return pairs


def test_a_batch_with_a_long_thin_image_fits_in_3_gb(tmp_path, cropping_model, photo):
    blank_png(tmp_path / "wide.png", *SHAPES["20000x1"])
    pairs = pairs_file(tmp_path, ["wide.png", "photo.png"])
    outcome = run_child(["hadamard_min.cli.explain", "--weights", cropping_model, "--batch", pairs,
                         "--out-dir", tmp_path / "out"], tmp_path, limits=CAP)
    outcome.success()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0001.png", "0002.png", "results.jsonl"]


def test_a_batch_line_out_of_memory_is_skipped_not_the_batch(tmp_path, capsys, cropping_model, photo, monkeypatch):
    blank_png(tmp_path / "huge.png", 64, 64)
    framed = explain_batch.frame

    def short_of_memory(model, image, fit=None):
        if str(image).endswith("huge.png"):
            raise MemoryError
        return framed(model, image, fit)
    monkeypatch.setattr(explain_batch, "frame", short_of_memory)
    pairs = pairs_file(tmp_path, ["huge.png", "photo.png"])
    outcome = run_main(explain, ["--weights", cropping_model, "--batch", pairs, "--out-dir", tmp_path / "out"],
                       capsys)
    assert outcome.code == 1 and not outcome.escaped, outcome
    skipped = [line for line in outcome.err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "line 1: not enough memory" in skipped[0], outcome.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0002.png", "results.jsonl"]


SPELLINGS = ["a.png", "./a.png", "././a.png", "sub/../a.png", "./sub/../a.png", "sub/./../a.png", "sub//../a.png",
             ".//a.png", "sub/../././a.png", "./sub/.././a.png", "sub/.././a.png", "./././a.png"]


def test_evaluate_on_one_large_image_under_twelve_names_fits_in_3_gb(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    blank_png(data / "a.png", 8192, 8192)
    (data / "questions.jsonl").write_text("".join(json.dumps({"image": name, "question": QUESTION, "answer": "circle"})
                                                  + "\n" for name in SPELLINGS))
    outcome = run_child(["hadamard_min.cli.evaluate", "--data", data, "--examples", "1", "--out", tmp_path / "report"],
                        tmp_path, limits=CAP, timeout=300)
    outcome.success()
    assert (tmp_path / "report" / "report.md").is_file()


def test_a_folder_holds_one_image_at_a_time(tmp_path):
    """Twelve different 512² images: reading the folder keeps none of them in memory."""
    rng = numpy.random.default_rng(0)
    names = [f"{k}.png" for k in range(12)]
    for name in names:
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=numpy.uint8)).save(tmp_path / name)
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps({"image": name, "question": QUESTION}) + "\n"
                                                      for name in names))
    one = 512 * 512 * 3
    tracemalloc.start()
    try:
        data = load_folder(tmp_path)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < one, held
    assert len(data.images) == 12 and data.images[5].shape == (512, 512, 3)
    assert data.image_paths == names


EVERY_FIT = """
import sys
from types import SimpleNamespace
from hadamard_min.explain.framing import frame
model = SimpleNamespace(image_size=448, crop=True, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                        dtype="float32")  # all frame() reads of a model
print([frame(model, sys.argv[1], fit)[1].shape[:2] for fit in ("stretch", "pad", "crop")])
"""


@pytest.mark.parametrize("shape", SHAPES)
def test_every_fit_of_an_explanation_of_a_long_thin_image_fits_in_3_gb(tmp_path, shape):
    """hm.explain's fits: padding a 200000×1 image to a square must not make the 200000² square first."""
    path = blank_png(tmp_path / f"{shape}.png", *SHAPES[shape])
    status, output = capped(EVERY_FIT, path)
    assert status == 0, output
    assert output.strip() == "[(448, 448), (448, 448), (448, 448)]", output
