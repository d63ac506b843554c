"""The explanation end to end on the GPU against the CPU: ``explain_batch`` (answers, probabilities, token
z-scores, pixel maps, attention), models loaded onto the GPU, the shipped easy-VQA model on test questions,
and the ``hadamard-explain`` / ``hadamard-evaluate`` commands with ``--device gpu``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from gpu_helpers import norm_error, on, relative_error
from PIL import Image

from hadamard_min.core.backend import DeviceError
from hadamard_min.data.easyvqa import DataError, load_easy_vqa
from hadamard_min.data.text import Vocabulary
from hadamard_min.explain.methods import explain_batch
from hadamard_min.io.model_files import SHIPPED_MODEL, SHIPPED_TWO_SHAPE_MODEL, load_model, save_model
from hadamard_min.models.vqa import build_vqa_model
from hadamard_min.training.train import DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["what", "color", "is", "the", "shape", "circle", "there", "a", "red", "not", "does", "image",
         "contain"]
ANSWERS = ["red", "blue", "green", "yes", "no", "circle", "triangle"]
QUESTIONS = ["What color is the shape?", "Is there a red circle?", "What is the shape?",
             "Does the image not contain a circle?"]


def random_model():
    """The shipped model's architecture (train.DEFAULT_CONFIG) with seeded random weights, on the CPU."""
    with on("cpu"):
        return build_vqa_model(DEFAULT_CONFIG, Vocabulary(WORDS), ANSWERS, rng=numpy.random.default_rng(0))


def images(count, size=64, seed=0):
    return list(numpy.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=numpy.uint8))


def explain_on(device, model, pictures, questions):
    """explain_batch with the model's arrays moved to ``device`` first."""
    with on(device):
        model.to_current_device()
        return explain_batch(model, pictures, questions)


def assert_same_answer(answer, top_k):
    """The CPU's answer, or (when its two best are within rounding of each other) either of those two."""
    (best, p1), (second, p2) = top_k[:2]
    assert answer == best or (p1 - p2 < 1e-4 and answer == second), (answer, top_k)


def assert_same_explanations(gpu, cpu):
    for mine, reference in zip(gpu, cpu, strict=True):
        assert_same_answer(mine.answer, reference.top_k)
        assert mine.tokens == reference.tokens
        numpy.testing.assert_allclose(mine.probability, reference.probability, atol=1e-5)
        numpy.testing.assert_allclose(mine.token_z, reference.token_z, atol=1e-3)
        assert norm_error(mine.pixel_map, reference.pixel_map) <= 1e-3
        assert norm_error(mine.grad_q, reference.grad_q) <= 1e-3
        assert relative_error(mine.alpha, reference.alpha) <= 1e-4
        assert type(mine.grad_v) is numpy.ndarray and type(mine.pixel_map) is numpy.ndarray


def test_explain_batch_on_gpu_equals_cpu(cupy):
    model, pictures = random_model(), images(len(QUESTIONS))
    cpu = explain_on("cpu", model, pictures, QUESTIONS)
    gpu = explain_on("gpu", model, pictures, QUESTIONS)
    assert all(isinstance(p.data, cupy.ndarray) for p in model.parameters())
    assert_same_explanations(gpu, cpu)


def test_a_model_loaded_after_choosing_the_gpu_lives_there(cupy, tmp_path):
    """``set_device("gpu")`` then ``load_model`` gives CuPy parameters and buffers (as the commands do);
    a model loaded on the CPU moves with ``to_current_device()``."""
    path = tmp_path / "model.npz"
    save_model(path, random_model())
    with on("gpu"):
        loaded = load_model(path)
    arrays = [p.data for p in loaded.parameters()] + [b for _, b in loaded.named_buffers()]
    assert arrays and all(isinstance(a, cupy.ndarray) for a in arrays)
    with on("cpu"):
        moved = load_model(path)
    with on("gpu"):
        moved.to_current_device()
    assert all(isinstance(p.data, cupy.ndarray) for p in moved.parameters())


@pytest.mark.parametrize("loaded_on, used_on", [("cpu", "gpu"), ("gpu", "cpu")])
def test_a_model_left_on_the_other_device_is_refused_in_words(cupy, loaded_on, used_on):
    """set_device after the model was loaded: a DeviceError naming the fix, not CuPy's TypeError deep in an op."""
    model = random_model()
    with on(loaded_on):
        model.to_current_device()
    with on(used_on), pytest.raises(DeviceError, match=r"to_current_device\(\)"):
        explain_batch(model, images(1), QUESTIONS[:1])
    with on(used_on):
        model.to_current_device()
        assert explain_batch(model, images(1), QUESTIONS[:1])[0].answer in ANSWERS


@pytest.mark.parametrize("loaded_on, used_on", [("cpu", "gpu"), ("gpu", "cpu")])
def test_an_image_classifier_left_on_the_other_device_is_refused_in_words(cupy, loaded_on, used_on):
    """The same for hadamard-saliency's path (classify, saliency_maps): it was CuPy's TypeError deep in a conv."""
    from hadamard_min.explain.classifier import classify, saliency
    from hadamard_min.models.efficientnet import EfficientNetLite

    with on(loaded_on):
        net = EfficientNetLite(((1, 3, 1, 1, 8, 8),), num_classes=5, stem=8, head=16,
                               rng=numpy.random.default_rng(0)).freeze()
        net.to_current_device()
    image = numpy.full((40, 40, 3), 128, dtype=numpy.uint8)
    with on(used_on):
        with pytest.raises(DeviceError, match=r"to_current_device\(\)"):
            classify(net, image)
        with pytest.raises(DeviceError, match=r"to_current_device\(\)"):
            saliency(net, numpy.zeros((3, 32, 32), dtype=numpy.float32), 1)
        net.to_current_device()
        assert classify(net, image).probabilities.shape == (5,)


def test_shipped_easy_vqa_model_on_test_questions_on_gpu_equals_cpu(cupy):
    if not SHIPPED_MODEL.exists():
        pytest.skip(f"the shipped model {SHIPPED_MODEL.name} is not in this checkout")
    try:
        data = load_easy_vqa("test")
    except DataError as error:
        pytest.skip(str(error))
    rows = range(0, 80, 10)  # 8 questions about different images
    questions = [data.questions[k] for k in rows]
    pictures = [data.images[data.image_index[k]] for k in rows]
    with on("cpu"):
        cpu = explain_batch(load_model(), pictures, questions)
    with on("gpu"):
        gpu = explain_batch(load_model(), pictures, questions)
    assert_same_explanations(gpu, cpu)
    assert sum(e.answer == data.answers[k] for e, k in zip(gpu, rows)) >= 6  # a trained model answers


def run_command(module, arguments, cwd):
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    environment = {**os.environ, "PYTHONPATH": path, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", module, *arguments], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=300)


def test_explain_command_with_device_gpu_writes_the_figure(cupy, tmp_path):
    save_model(tmp_path / "model.npz", random_model())
    Image.fromarray(images(1, size=80, seed=3)[0]).save(tmp_path / "photo.png")
    answers = {}
    for device in ("cpu", "gpu"):
        result = run_command("hadamard_min.cli.explain", ["--device", device, "--weights", "model.npz", "--image",
                                                      "photo.png", "--question", "What color is the shape?",
                                                      "--out", f"{device}.png", "--json", f"{device}.json"],
                             tmp_path)
        assert result.returncode == 0, result.stderr
        figure = numpy.asarray(Image.open(tmp_path / f"{device}.png"))
        assert figure.shape[1] > 600 and figure.std() > 10
        answers[device] = json.loads((tmp_path / f"{device}.json").read_text())
    cpu_top_k = [(t["answer"], t["probability"]) for t in answers["cpu"]["top_k"]]
    assert_same_answer(answers["gpu"]["answer"], cpu_top_k)
    numpy.testing.assert_allclose(answers["gpu"]["token_z"], answers["cpu"]["token_z"], atol=1e-3)


def test_evaluate_command_with_device_gpu_gives_the_cpu_numbers(cupy, tmp_path):
    """The whole command on two questions (each costs ~20 s of CPU time; the ops are checked one by one above)."""
    if not SHIPPED_TWO_SHAPE_MODEL.exists():
        pytest.skip(f"the shipped model {SHIPPED_TWO_SHAPE_MODEL.name} is not in this checkout")
    results = {}
    for device in ("cpu", "gpu"):
        result = run_command("hadamard_min.cli.evaluate", ["--device", device, "--data", "two-shape",
                                                       "--examples", "2", "--out", device], tmp_path)
        assert result.returncode == 0, result.stderr
        results[device] = json.loads((tmp_path / device / "results.json").read_text())
    assert results["gpu"]["accuracy"] == results["cpu"]["accuracy"]
    assert (tmp_path / "gpu" / "report.md").exists()
