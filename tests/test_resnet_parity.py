"""ResNet against a plain-torch reference with the same names, as two questions with two tolerances.

The reference's random weights are exported by torch (.pth and .safetensors) and read by ``load_weights``;
features (before and after the last ReLU), logits, plain and guided input gradients are compared with the
reference run in float64, as max |ours − reference| / max |reference|.

1. Is every backward rule right? Our network in float64: everything agrees to FLOAT64_TOLERANCE (1e-10).
   float64 rounding is ~1e-16, so no wrong rule (a mask, a filter, a routing) hides below this, however
   small its effect (test_a_broken_backward_fails_the_parity_check breaks rules and watches this fail).
2. Is our float32 pass as accurate as float32 allows? Our network in float32: forward values agree to
   FEATURE_TOLERANCE, input gradients to GRADIENT_TOLERANCE (1e-5 both; measured below 1e-6 at every
   depth on an AVX2 machine with OpenBLAS's Haswell, Sandybridge and Nehalem kernels, 1 and 2 threads).

Both compare on the piece our pass chose (see resnet_reference.py): a ReLU input within rounding of 0 may
land on either side in a correct float32 pass, and the gradient then jumps by that unit's contribution (on an
AVX-512 machine one stem ReLU moved an 11×11 patch of the ResNet-152 gradient by 1.8e-3). So the float64
reference replays each ReLU mask and max-pool arg-max of our pass, and checks that wherever ours took the
other side of a kink, the float64 input lies within the forward tolerance of it (MARGIN: 1e-5 of the largest
input of that op in float32, 1e-10 in float64). Another BLAS kernel or thread count changes only rounding,
for which these bounds leave ten times the room ever measured; a backward that is wrong anywhere fails them.
"""
import numpy
import pytest
from resnet_reference import Pieces, Replay, random_reference, recording

import hadamard_min as hm
from hadamard_min import ops
from hadamard_min.core.tensor import Tensor
from hadamard_min.io.weights import WeightsError, load_weights
from hadamard_min.models import ResNet

FLOAT64_TOLERANCE = 1e-10
FEATURE_TOLERANCE = GRADIENT_TOLERANCE = 1e-5
TOLERANCE = {numpy.float64: {"forward": FLOAT64_TOLERANCE, "gradient": FLOAT64_TOLERANCE},
             numpy.float32: {"forward": FEATURE_TOLERANCE, "gradient": GRADIENT_TOLERANCE}}
MARGIN = {numpy.float64: FLOAT64_TOLERANCE, numpy.float32: FEATURE_TOLERANCE}
GRADIENTS = ("plain", "guided")


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
    """Our outputs, and the pieces each of the four passes ran on."""
    pieces = {name: Pieces() for name in ("pre", "post", *GRADIENTS)}
    with recording(pieces["pre"]):
        pre = model.features(Tensor(x), pre_relu=True).numpy()
    with recording(pieces["post"]):
        post = model.features(Tensor(x)).numpy()
    xt, xg = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    with recording(pieces["plain"]):
        logits = model(xt)
    logits.backward(seed)
    with hm.guided_backprop(), recording(pieces["guided"]):
        model(xg).backward(seed)
    return {"pre": pre, "post": post, "logits": logits.numpy(), "plain": xt.grad, "guided": xg.grad}, pieces


def reference_outputs(torch, net, x, seed, pieces):
    """The float64 reference's outputs on the pieces of our passes, and the replays (which audited them)."""
    x, seed = torch.from_numpy(x.astype(numpy.float64)), torch.from_numpy(seed.astype(numpy.float64))
    replays = {name: Replay(torch, pieces[name], guided=name == "guided") for name in pieces}
    with torch.no_grad():
        results = {"pre": net.features(x, pre_relu=True, activations=replays["pre"]).numpy(),
                   "post": net.features(x, activations=replays["post"]).numpy()}
    for name in GRADIENTS:
        xt = x.clone().requires_grad_(True)
        logits = net(xt, activations=replays[name])
        logits.backward(seed)
        results[name] = xt.grad.numpy()
        results.setdefault("logits", logits.detach().numpy())
    return results, replays


def assert_agree(ours, theirs, replays, dtype):
    """Every output of ours within the tolerance of ``dtype``; every piece replayed and within the margin."""
    label = numpy.dtype(dtype).name
    for name, replay in replays.items():
        assert replay.finished(), f"{label} {name}: the reference ran other ReLUs or max-pools than ours"
        assert replay.worst <= MARGIN[dtype], (
            f"{label} {name}: {replay.flips} ReLU or max-pool inputs took the other side of their kink, one "
            f"{replay.worst:.1e} (relative) away from it > {MARGIN[dtype]}")
    for name in theirs:
        tolerance = TOLERANCE[dtype]["gradient" if name in GRADIENTS else "forward"]
        assert ours[name].shape == theirs[name].shape and ours[name].dtype == dtype, name
        error = relative_error(ours[name], theirs[name])
        assert error <= tolerance, f"{label} {name}: relative error {error:.2e} > {tolerance}"


def check_parity(torch, tmp_path, layers, width, size, fmt, batch=1, num_classes=10, fold=False):
    """Ours in float64, then in float32, against the float64 reference (``fold``: the model frozen, so that the
    fast path folds its batch norms and runs Winograd; else the reference ops)."""
    net = random_reference(torch, layers, width, num_classes)
    path = export(torch, net, tmp_path, fmt)
    net = net.double()
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((batch, 3, *size)).astype(numpy.float32)
    seed = rng.standard_normal((batch, num_classes)).astype(numpy.float32)
    reference = None
    for dtype in (numpy.float64, numpy.float32):
        model = ResNet(layers, width=width, num_classes=num_classes).eval().requires_grad_(False)
        model = model.astype(numpy.float64) if dtype == numpy.float64 else model
        model.load_state_dict(load_weights(path), source=str(path))
        if fold:
            model.freeze()
        with hm.fast(fold):
            ours, pieces = ours_outputs(model, x.astype(dtype), seed.astype(dtype))
        if reference is None or reference[0] != pieces:  # float32 mostly runs on float64's pieces
            reference = pieces, *reference_outputs(torch, net, x, seed, pieces)
        theirs, replays = reference[1:]
        assert (theirs["pre"] < 0).any() and relative_error(theirs["guided"], theirs["plain"]) > 0.1  # can fail
        assert_agree(ours, theirs, replays, dtype)


def test_resnet152_parity_at_224_from_pth(torch, tmp_path):
    check_parity(torch, tmp_path, (3, 8, 36, 3), 64, (224, 224), "pth", num_classes=1000)


@pytest.mark.parametrize("size, fmt", [((448, 448), "pth"), ((200, 264), "safetensors")])
def test_small_resnet_parity(torch, tmp_path, size, fmt):
    check_parity(torch, tmp_path, (1, 1, 1, 1), 16, size, fmt)


@pytest.mark.parametrize("fold", [False, True])
def test_deeper_narrow_resnet_parity_in_a_batch(torch, tmp_path, fold):
    check_parity(torch, tmp_path, (2, 2, 2, 2), 8, (96, 80), "safetensors", batch=2, fold=fold)


def scaled_input_gradient(backward):
    """A convolution backward whose input gradient is off by one part in a million."""
    def broken(self, dy):
        dx, *rest = backward(self, dy)
        return (dx * (1 + 1e-6), *rest)
    return broken


def plain_where_guided(backward):
    """A ReLU backward that ignores the guided rule: dy·[x > 0] inside guided_backprop() too."""
    def broken(self, dy):
        with hm.relu_rule("gradient"):
            return backward(self, dy)
    return broken


def routed_one_further(backward):
    """A max-pool backward that sends each gradient to the window's next element."""
    def broken(self, dy):
        self.argmax = (self.argmax + 1) % (self.kernel * self.kernel)
        return backward(self, dy)
    return broken


BROKEN = {  # name → (op class, its broken backward, the first output that must fail)
    "ReLU passes everything back": (ops.ReLU, lambda backward: lambda self, dy: (dy,), "float64 plain"),
    "ReLU ignores the guided rule": (ops.ReLU, plain_where_guided, "float64 guided"),
    "conv input gradient off by 1e-6": (ops.Conv2d, scaled_input_gradient, "float64 plain"),
    "max-pool routes to a neighbour": (ops.MaxPool2d, routed_one_further, "float64 plain"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_backward_fails_the_parity_check(torch, tmp_path, monkeypatch, name):
    """The check passes, then one backward rule is broken and the float64 comparison fails on it."""
    check_parity(torch, tmp_path, (1, 1), 4, (40, 36), "pth")
    op, breaking, failing = BROKEN[name]
    monkeypatch.setattr(op, "backward", breaking(op.backward))
    with pytest.raises(AssertionError, match=failing):
        check_parity(torch, tmp_path, (1, 1), 4, (40, 36), "pth")


def test_a_piece_far_from_its_kink_fails_the_audit(torch, tmp_path):
    """Ours may take a kink's other side only within rounding of it: a pass whose stem ReLU masks are all
    turned over (so the unit with the largest input is on the wrong side) is refused."""
    net = random_reference(torch, (1, 1), 4)
    path = export(torch, net, tmp_path, "pth")
    model = ResNet((1, 1), width=4, num_classes=10).eval().requires_grad_(False)
    model.load_state_dict(load_weights(path), source=str(path))
    rng = numpy.random.default_rng(7)
    x, seed = rng.standard_normal((1, 3, 40, 36)), rng.standard_normal((1, 10))
    ours, pieces = ours_outputs(model, x.astype(numpy.float32), seed.astype(numpy.float32))
    for piece in pieces.values():
        piece.masks[0] = ~piece.masks[0]
    theirs, replays = reference_outputs(torch, net.double(), x, seed, pieces)
    assert all(replay.worst == 1.0 for replay in replays.values())
    with pytest.raises(AssertionError, match="took the other side of their kink"):
        assert_agree(ours, theirs, replays, numpy.float32)


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
    """Both sides run, on the same weights. Their guided gradients are two float32 passes, which may take a
    kink on different sides: here, with one thread, torch's is 2.4e-4 (relative) from float64 over a region
    of pixels while ours is 2e-7. Other weights would give errors of order 1. That the two networks compute
    the same thing is checked in float64 above."""
    from hadamard_min.cli.bench import main
    assert main(["--size", "64", "--depth", "50", "--runs", "1", "--warmup", "0", "--threads", "1"]) == 0
    out = capfd.readouterr().out
    assert "forward + guided backward" in out and "ours/torch" in out and "peak RSS" in out
    error = float(out.split("relative error of ")[1].split()[0])
    assert error < 0.1
