"""ResNet against a plain-torch reference with the same names.

The reference's random weights are exported by torch (.pth and .safetensors) and ported by
``load_weights``; then features (pre- and post-ReLU), logits, plain and guided input gradients
are compared."""
import numpy
import pytest

import hadamard_min as hm
from hadamard_min.core.tensor import Tensor
from hadamard_min.io.weights import WeightsError, load_weights
from hadamard_min.models import ResNet
from hadamard_min.oracle.torch_models import torch_resnet

FEATURE_TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-3


def random_reference(torch, layers, width, num_classes=10, seed=0):
    """The reference with random weights and non-trivial batch norms (γ, β, running mean and variance)."""
    torch.manual_seed(seed)
    net = torch_resnet(torch, layers, width, num_classes)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval().requires_grad_(False)


def export(torch, net, folder, fmt):
    path = folder / f"reference.{fmt}"
    if fmt == "pth":
        torch.save(net.state_dict(), path)
    else:
        safetensors_torch = pytest.importorskip("safetensors.torch")
        safetensors_torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def relative_error(ours, theirs):
    """max |ours − theirs| / max |theirs|."""
    return float(numpy.abs(ours - theirs).max() / numpy.abs(theirs).max())


def ours_outputs(model, x, seed):
    pre = model.features(Tensor(x), pre_relu=True).numpy()
    post = model.features(Tensor(x)).numpy()
    xt = Tensor(x, requires_grad=True)
    logits = model(xt)
    logits.backward(seed)
    plain = xt.grad
    xg = Tensor(x, requires_grad=True)
    with hm.guided_backprop():
        model(xg).backward(seed)
    return {"pre": pre, "post": post, "logits": logits.numpy(), "plain": plain, "guided": xg.grad}


def reference_outputs(torch, net, x, seed):
    x = torch.from_numpy(x)
    seed = torch.from_numpy(seed)
    with torch.no_grad():
        pre, post = net.features(x, pre_relu=True), net.features(x)
    results = {"pre": pre.numpy(), "post": post.numpy()}
    for name, guided in (("plain", False), ("guided", True)):
        xt = x.clone().requires_grad_(True)
        logits = net(xt, guided=guided)
        logits.backward(seed)
        results[name] = xt.grad.numpy()
        results.setdefault("logits", logits.detach().numpy())
    return results


def check_parity(torch, tmp_path, layers, width, size, fmt, batch=1, num_classes=10):
    net = random_reference(torch, layers, width, num_classes)
    path = export(torch, net, tmp_path, fmt)
    model = ResNet(layers, width=width, num_classes=num_classes).eval().requires_grad_(False)
    model.load_state_dict(load_weights(path), source=str(path))
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((batch, 3, *size)).astype(numpy.float32)
    seed = rng.standard_normal((batch, num_classes)).astype(numpy.float32)
    ours, theirs = ours_outputs(model, x, seed), reference_outputs(torch, net, x, seed)
    assert (theirs["pre"] < 0).any() and relative_error(theirs["guided"], theirs["plain"]) > 0.1  # can fail
    for name in ours:
        tolerance = GRADIENT_TOLERANCE if name in ("plain", "guided") else FEATURE_TOLERANCE
        assert ours[name].shape == theirs[name].shape, name
        error = relative_error(ours[name], theirs[name])
        assert error <= tolerance, f"{name}: relative error {error:.2e} > {tolerance}"
    return model, x, seed, ours


def test_resnet152_parity_at_224_from_pth(torch, tmp_path):
    check_parity(torch, tmp_path, (3, 8, 36, 3), 64, (224, 224), "pth", num_classes=1000)


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
@pytest.mark.parametrize("size", [(448, 448), (200, 264)])
def test_small_resnet_parity(torch, tmp_path, fmt, size):
    check_parity(torch, tmp_path, (1, 1, 1, 1), 16, size, fmt)


def test_deeper_narrow_resnet_parity_in_a_batch_and_on_the_fast_path(torch, tmp_path):
    """check_parity runs the reference ops; frozen on the fast path (folded, Winograd) the outputs stay put."""
    with hm.fast(False):
        model, x, seed, ours = check_parity(torch, tmp_path, (2, 2, 2, 2), 8, (96, 80), "safetensors", batch=2)
    model.freeze()
    folded = ours_outputs(model, x, seed)
    for name in ours:
        assert relative_error(folded[name], ours[name]) <= FEATURE_TOLERANCE, name


def test_truncated_or_mismatched_weight_files_are_named(torch, tmp_path):
    net = random_reference(torch, (1, 1), 4)
    path = export(torch, net, tmp_path, "pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"truncated\.pth"):
        load_weights(truncated)
    other = ResNet((1, 1), width=8, num_classes=10)
    with pytest.raises(WeightsError, match=r"reference\.pth.*wrong shape.*conv1\.weight"):
        other.load_state_dict(load_weights(path), source=str(path))
    state = load_weights(path)
    del state["layer2.0.bn3.running_var"]
    with pytest.raises(WeightsError, match=r"missing: layer2\.0\.bn3\.running_var"):
        ResNet((1, 1), width=4, num_classes=10).load_state_dict(state, source=str(path))


def test_bench_times_both_sides_on_the_same_weights(torch, capfd):
    from hadamard_min.cli.bench import main
    assert main(["--size", "64", "--depth", "50", "--runs", "1", "--warmup", "0", "--threads", "1"]) == 0
    out = capfd.readouterr().out
    assert "forward + guided backward" in out and "ours/torch" in out and "peak RSS" in out
    error = float(out.split("relative error of ")[1].split()[0])
    assert error <= GRADIENT_TOLERANCE
