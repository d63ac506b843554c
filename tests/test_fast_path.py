"""The fast path against the reference path: every fast form equals its reference op, and whole models agree.

The reference ops (``hadamard_min/ops/``) are the definition. The fast path (``hadamard_min/fast/``) folds a
frozen model's batch norms into its convolutions, runs 3×3 convolutions as Winograd F(2×2, 3×3) or
F(4×4, 3×3), takes ReLU and max pooling in fewer passes over memory and, on a GPU, fuses ReLU and im2col into
single kernels. ReLU and max pooling equal the reference bit for bit; in float64 whole networks agree to
rounding (1e-10); in float32 each path is compared with the float64 result, within 1e-5 of its largest value.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from references import randomize_batchnorm
from test_resnet import small_resnet

import hadamard_min as hm
from hadamard_min import Tensor, guided_backprop, no_grad, ops
from hadamard_min.fast import phases, switch, winograd
from hadamard_min.fast.frozen import fold_conv_bn, inference_form
from hadamard_min.fast.fused import FusedConv2d, FusedReLU
from hadamard_min.fast.phases import PhaseConv2d
from hadamard_min.io.model_files import load_model
from hadamard_min.models import ResNet
from hadamard_min.nn.layers import BatchNorm2d, Conv2d

pytestmark = pytest.mark.usefixtures("cpu_forms")  # each test with the NumPy forms and the Numba kernels

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "hadamard_min" / "assets" / "example.png"


def forms(model):
    return [m.inference_form for _, m in model.named_modules() if getattr(m, "inference_form", None) is not None]


def passes(model, x, seed):
    """(logits, pre-ReLU features, guided input gradient) of a ResNet."""
    with no_grad():
        logits, pre = model(Tensor(x)).data, model.features(Tensor(x), pre_relu=True).data
    xt = Tensor(x, requires_grad=True)
    with guided_backprop():
        model(xt).backward(seed)
    return logits, pre, xt.grad


# ------------------------------------------------------------------------------------ the switch
def test_the_switch_defaults_to_on_and_the_block_restores_it():
    assert switch.enabled()
    with hm.fast(False):
        assert not switch.enabled()
        with hm.fast():
            assert switch.enabled()
        assert not switch.enabled()
    assert switch.enabled()


@pytest.mark.parametrize("value, expected", [("0", False), ("1", True), (" 1 ", True)])
def test_the_environment_variable_sets_the_default(monkeypatch, value, expected):
    monkeypatch.setattr(switch.FAST, "value", None)
    monkeypatch.setenv("HADAMARD_FAST", value)
    assert switch.enabled() is expected


def test_a_bad_environment_value_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(switch.FAST, "value", None)
    monkeypatch.setenv("HADAMARD_FAST", "yes")
    with pytest.raises(switch.FastSwitchError, match="HADAMARD_FAST must be 0"):
        switch.enabled()


# ------------------------------------------------------------------------------------ each fast form
def test_folding_equals_batch_norm_after_the_convolution(rng):
    conv = Conv2d(3, 4, 3, padding=1, bias=True, rng=rng)
    conv.bias.data = rng.standard_normal(4).astype(numpy.float32)
    bn = BatchNorm2d(4)
    randomize_batchnorm(bn, rng)
    conv.astype(numpy.float64), bn.astype(numpy.float64)
    x = rng.standard_normal((2, 3, 5, 6))
    weight, bias = fold_conv_bn(conv, bn.eval())
    folded = ops.conv2d(Tensor(x), Tensor(weight), Tensor(bias), padding=1).data
    numpy.testing.assert_allclose(folded, bn(conv(Tensor(x))).data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rule", ["gradient", "guided", "deconvnet"])
def test_fused_relu_is_the_reference_relu_on_the_cpu(rng, rule):
    x, dy = rng.standard_normal((3, 7)), rng.standard_normal((3, 7))
    results = []
    for op in (FusedReLU, ops.ReLU):
        xt = Tensor(x, requires_grad=True)
        with hm.relu_rule(rule):
            y = op.apply(xt)
            y.backward(dy)
        results.append((y.data, xt.grad))
    for fast, reference in zip(*results):
        numpy.testing.assert_array_equal(fast, reference)


def test_fused_relu_on_the_cpu_is_the_reference_relu_on_zeros_and_odd_layouts(rng):
    """Bit for bit also at exact zeros (x and dy) and on a non-contiguous input."""
    x = rng.standard_normal((2, 5, 6)).transpose(2, 0, 1)
    x[0, 0, :3] = 0
    dy = rng.standard_normal(x.shape)
    dy[1, 1] = 0
    for rule in ("gradient", "guided", "deconvnet"):
        results = []
        for op in (FusedReLU, ops.ReLU):
            xt = Tensor(x, requires_grad=True)
            with hm.relu_rule(rule):
                op.apply(xt).backward(dy)
            results.append(xt.grad)
        numpy.testing.assert_array_equal(*results)


@pytest.mark.parametrize("shape, kernel, stride, padding", [((2, 3, 9, 8), 3, 2, 1), ((1, 3, 20, 17), 7, 2, 3),
                                                            ((2, 2, 8, 8), 3, 3, 0), ((1, 4, 5, 6), 1, 2, 0)])
def test_strided_convolution_over_phase_planes_equals_the_reference_in_float64(rng, shape, kernel, stride, padding):
    """Output, input gradient, weight gradient and bias gradient; a non-contiguous input too."""
    x = rng.standard_normal(shape[:2] + shape[:1:-1]).transpose(0, 1, 3, 2)
    weight, bias = rng.standard_normal((5, shape[1], kernel, kernel)), rng.standard_normal(5)
    results = []
    for op in (PhaseConv2d, ops.Conv2d):
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, weight, bias))
        y = op.apply(xt, wt, bt, stride=stride, padding=padding)
        dy = numpy.random.default_rng(2).standard_normal(y.shape)
        y.backward(dy)
        results.append((y.data, xt.grad, wt.grad, bt.grad))
    for fast, reference in zip(*results):
        assert fast.shape == reference.shape
        numpy.testing.assert_allclose(fast, reference, rtol=1e-12, atol=1e-12)


def test_a_frozen_strided_convolution_takes_a_batch_in_slices_with_the_same_numbers(rng, monkeypatch):
    monkeypatch.setattr(phases, "CACHE_BYTES", 1)                           # one image a slice
    x, weight, bias = rng.standard_normal((3, 2, 11, 9)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    dy = rng.standard_normal((3, 4, 6, 5))
    results = []
    for op in (PhaseConv2d, ops.Conv2d):
        xt = Tensor(x, requires_grad=True)
        y = op.apply(xt, Tensor(weight), Tensor(bias), stride=2, padding=1)  # no weight gradient: no columns kept
        assert op is ops.Conv2d or (y.creator.chunk == 1 and y.creator.saved[0] is None)
        y.backward(dy)
        results.append((y.data, xt.grad))
    for fast, reference in zip(*results):
        numpy.testing.assert_allclose(fast, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, 1), (7, 2, 3), (1, 2, 0)])
def test_fused_convolution_is_the_reference_convolution_on_the_cpu(rng, kernel, stride, padding):
    x, weight = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, kernel, kernel))
    results = []
    for op in (FusedConv2d, ops.Conv2d):
        xt, wt = Tensor(x, requires_grad=True), Tensor(weight, requires_grad=True)
        y = op.apply(xt, wt, stride=stride, padding=padding)
        y.backward(numpy.ones_like(y.data))
        results.append((y.data, xt.grad, wt.grad))
    for fast, reference in zip(*results):
        numpy.testing.assert_array_equal(fast, reference)


# ------------------------------------------------------------------------------------ whole networks
@pytest.mark.parametrize("tile", [4, 2])
def test_a_frozen_resnet_agrees_on_both_paths_in_float64(rng, monkeypatch, tile):
    """F(4×4) is what these narrow maps get; F(2×2), what wide ones get, is forced here for the second case."""
    monkeypatch.setattr(winograd, "output_tile", lambda channels, fused: tile)
    model = small_resnet(rng, numpy.float64, layers=(2, 1)).freeze()
    x, seed = rng.standard_normal((2, 3, 24, 24)), rng.standard_normal((2, 5))
    with hm.fast(False):
        reference = passes(model, x, seed)
    assert forms(model) == []                                  # the reference path made no inference forms
    fast = passes(model, x, seed)
    convolutions = [m for _, m in model.named_modules() if isinstance(m, Conv2d)]
    threes = [c for c in convolutions if (c.kernel_size, c.stride, c.padding) == (3, 1, 1)]
    assert len(forms(model)) == len(convolutions) and sum(f.u is not None for f in forms(model)) == len(threes) > 0
    assert all((f.weight is None) == (f.u is not None) for f in forms(model))  # no folded 3×3 filters kept
    assert {len(f.u) for f in forms(model) if f.u is not None} == {(tile + 2) ** 2}
    for mine, theirs in zip(fast, reference):
        numpy.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    assert (reference[2] != 0).mean() > 0.2 and (reference[2] == 0).any()  # guided rule did cut some signals


@pytest.mark.parametrize("tile", [4, 2])
def test_a_frozen_resnet_in_float32_is_as_close_to_float64_on_both_paths(rng, monkeypatch, tile):
    monkeypatch.setattr(winograd, "output_tile", lambda channels, fused: tile)
    model64 = small_resnet(rng, numpy.float64, layers=(2, 1), width=8).freeze()
    model32 = ResNet((2, 1), width=8, num_classes=5)
    model32.load_state_dict({k: v.astype(numpy.float32) for k, v in model64.state_dict().items()})
    model32.freeze()
    x, seed = rng.standard_normal((2, 3, 32, 32)), rng.standard_normal((2, 5))
    exact = passes(model64, x, seed)
    x32, seed32 = x.astype(numpy.float32), seed.astype(numpy.float32)
    with hm.fast(False):
        reference = passes(model32, x32, seed32)
    fast = passes(model32, x32, seed32)
    for name, e, r, f in zip(("logits", "features"), exact, reference, fast):
        scale = numpy.abs(e).max()
        assert numpy.abs(r - e).max() / scale < 1e-5, name
        assert numpy.abs(f - e).max() / scale < 1e-5, name


def test_an_unfrozen_model_in_eval_mode_takes_the_reference_convolutions(rng):
    """The fast path folds only a model frozen by freeze(): no decision is taken from a gradient flag."""
    model = small_resnet(rng, numpy.float64)
    model.requires_grad_(False)                               # eval, no gradients, but not frozen
    passes(model, rng.standard_normal((1, 3, 16, 16)), rng.standard_normal((1, 5)))
    assert not model.is_frozen and forms(model) == []


def test_an_inference_form_is_built_once_and_kept_while_frozen(rng):
    model = small_resnet(rng).freeze()
    with no_grad():
        model(Tensor(rng.standard_normal((1, 3, 16, 16)).astype(numpy.float32)))
    block = model.blocks()[0]
    first = block.conv2.inference_form
    assert inference_form(block.conv2, block.bn2) is first


# ------------------------------------------------------------------------------------ the shipped model
def test_the_shipped_model_explains_alike_on_both_paths():
    model = load_model()
    with hm.fast(False):
        reference = hm.explain(model, EXAMPLE, "what shape is in the image?")
    fast = hm.explain(model, EXAMPLE, "what shape is in the image?")
    assert fast.answer == reference.answer and [a for a, _ in fast.top_k] == [a for a, _ in reference.top_k]
    assert abs(fast.probability - reference.probability) < 1e-4
    for name in ("grad_v", "grad_q", "alpha"):
        mine, theirs = getattr(fast, name), getattr(reference, name)
        assert numpy.abs(mine - theirs).max() <= 1e-3 * numpy.abs(theirs).max(), name
    numpy.testing.assert_allclose(fast.token_z, reference.token_z, atol=1e-3)


def test_predict_and_explain_see_the_same_logits():
    """Both run the frozen model; so the answer explain gives is the one predict gives."""
    model = load_model()
    _, x = model.prepare_image(EXAMPLE)
    questions = ["what shape is in the image?", "is there a red shape?"]
    with model.frozen(), no_grad():
        ids, lengths = model.encode_questions(questions)
        predicted = model(numpy.stack([x, x]), ids, lengths).logits.data
    with model.frozen():
        out, *_ = model.forward_from_leaves(numpy.stack([x, x]), questions)
    numpy.testing.assert_array_equal(out.logits.data, predicted)


def test_hadamard_fast_0_on_the_command_line_gives_the_same_answer(tmp_path):
    results = []
    for value in ("1", "0"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HADAMARD_FAST": value}
        out = tmp_path / f"fast{value}"
        out.mkdir()
        done = subprocess.run([sys.executable, "-m", "hadamard_min.cli.explain", "--json", "e.json"], cwd=out,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results.append(json.loads((out / "e.json").read_text()))
    fast, reference = results
    assert fast["answer"] == reference["answer"]
    assert abs(fast["probability"] - reference["probability"]) < 1e-4
    numpy.testing.assert_allclose(fast["token_z"], reference["token_z"], atol=1e-3)


@pytest.mark.parametrize("flag", ["x", "0", None, 2, [True]])
def test_the_switch_takes_true_or_false_only(flag):
    with pytest.raises(switch.FastSwitchError, match=r"fast\(flag\) takes True or False"):
        with switch.fast(flag):
            pass
    with switch.fast(numpy.bool_(False)):
        assert not switch.enabled()


def test_a_bad_hadamard_numba_is_refused_before_any_work(tmp_path):
    """HADAMARD_NUMBA was read only where a Numba kernel might run: with HADAMARD_FAST=0 a bad value was taken
    without a word, and hadamard-train refused it only after printing that training had begun."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HADAMARD_NUMBA": "2", "HADAMARD_FAST": "0"}
    done = subprocess.run([sys.executable, "-m", "hadamard_min", "explain", "--json", "e.json"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and not done.stdout, done.stdout
    assert done.stderr == ("hadamard-explain: error: HADAMARD_NUMBA must be 0 (NumPy fast forms) "
                           "or 1 (Numba kernels), not '2'\n"), done.stderr
    assert not list(tmp_path.iterdir())
