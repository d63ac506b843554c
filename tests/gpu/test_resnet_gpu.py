"""ResNets on the GPU against the CPU on the same weights: the ResNet-152 explain pass at 448×448 (forward,
then the guided backward of one class score to the pixels; batch norms calibrated, the model frozen as in
``hadamard-bench``, so the fast path folds them), and a small network's passes (unfrozen, frozen, the fast
path off) and training gradients; float32 results on both devices are measured against float64 on the CPU.

Network-sized gradients are compared by ‖gpu − cpu‖ / ‖cpu‖: a deep float32 network with calibrated batch
norms has units within rounding of zero, whose ReLU masks may flip between two summation orders (seen on
the CPU against PyTorch too), which moves a few pixels of the guided gradient but not its norm.
"""
import numpy
import pytest
from gpu_helpers import norm_error, on, relative_error

from hadamard_min import Tensor, fast, relu_rule
from hadamard_min.core.backend import to_device, to_numpy
from hadamard_min.models import ResNet
from hadamard_min.models.resnet import calibrate_batchnorm

TARGET_CLASS = 0


def explain_pass(model, image, rule="guided"):
    """(logits, ∂ logits[:, TARGET_CLASS] / ∂ image) as NumPy arrays, ReLUs passing back by ``rule``."""
    x = Tensor(to_device(image), requires_grad=True)
    with relu_rule(rule):
        logits = model(x)
        seed = numpy.zeros(logits.shape, dtype=numpy.float32)
        seed[:, TARGET_CLASS] = 1
        logits.backward(to_device(seed))
    return to_numpy(logits.data), to_numpy(x.grad)


def move(model, device):
    """The model's parameters and buffers moved to ``device`` (its inference forms are dropped, made anew)."""
    with on(device):
        return model.to_current_device()


def assert_on_gpu(model, cupy):
    """Parameters, buffers and the fast path's inference forms (folded weights, Winograd filters) all on the GPU."""
    forms = [m.inference_form for _, m in model.named_modules() if getattr(m, "inference_form", None)]
    arrays = [p.data for p in model.parameters()] + [b for _, b in model.named_buffers()]
    arrays += [a for form in forms for a in (form.weight, form.bias, form.u) if a is not None]
    assert forms and all(isinstance(a, cupy.ndarray) for a in arrays)


def in_float64(model):
    """The model's parameters and buffers turned to float64, on the CPU (inference forms made anew)."""
    move(model, "cpu")
    return model.astype(numpy.float64)


ROUNDING_ROOM = 4  # the GPU's float32 error may be this many times the CPU's own


def test_resnet152_explain_pass_at_448_on_gpu_equals_cpu(cupy):
    """Both float32 passes against a float64 pass on the CPU: the GPU's error is within ``ROUNDING_ROOM``
    times the CPU's own, logits and input gradient alike.

    The bound scales with what float32 rounding does to this network on this machine (the CPU's gradient is
    4.3e-4 to 7.0e-4 from the float64 one, norm-wise, depending on its BLAS), not a fixed number one BLAS
    happens to meet: cuBLAS sums in other orders, so its error differs by a small factor, whereas a wrong
    kernel or a lost term is off by orders of magnitude. (Comparing the two float32 devices directly would
    add their two rounding errors.)"""
    rng = numpy.random.default_rng(0)
    with on("cpu"):
        model = ResNet((3, 8, 36, 3), rng=rng)
        calibrate_batchnorm(model, rng.standard_normal((1, 3, 448, 448), dtype=numpy.float32))
        model.freeze()
        image = rng.standard_normal((1, 3, 448, 448), dtype=numpy.float32)
        cpu_logits, cpu_grad = explain_pass(model, image)
    move(model, "gpu")
    with on("gpu"):
        gpu_logits, gpu_grad = explain_pass(model, image)
    assert_on_gpu(model, cupy)
    with on("cpu"):
        exact_logits, exact_grad = explain_pass(in_float64(model), image.astype(numpy.float64))
    assert numpy.isfinite(gpu_grad).all() and numpy.abs(exact_grad).max() > 0
    errors = {"gpu": (relative_error(gpu_logits, exact_logits), norm_error(gpu_grad, exact_grad)),
              "cpu": (relative_error(cpu_logits, exact_logits), norm_error(cpu_grad, exact_grad))}
    print("ResNet-152 at 448, float32 against float64 (logits max-abs scaled, input gradient norm-wise): "
          + ", ".join(f"{device} {a:.1e} {b:.1e}" for device, (a, b) in errors.items())
          + f"; gpu against cpu {norm_error(gpu_grad, cpu_grad):.1e}")
    assert errors["cpu"][0] < 1e-2 and errors["cpu"][1] < 1e-2  # the float64 pass is a reference at all
    for what, gpu, cpu in zip(("logits", "input gradient"), errors["gpu"], errors["cpu"], strict=True):
        assert gpu <= ROUNDING_ROOM * cpu, f"{what}: the GPU's error {gpu:.1e} against float64 is more than " \
                                           f"{ROUNDING_ROOM} times the CPU's {cpu:.1e}"


@pytest.fixture
def small_resnet():
    """A 4-stage, one-block-per-stage ResNet with non-trivial batch-norm statistics, on the CPU."""
    rng = numpy.random.default_rng(1)
    with on("cpu"):
        model = ResNet((1, 1, 1, 1), width=8, num_classes=5, rng=rng)
        calibrate_batchnorm(model, rng.standard_normal((4, 3, 64, 64), dtype=numpy.float32))
    return model


def assert_as_close_to_float64(gpu, cpu, exact, what):
    """The GPU's float32 result is as close to the float64 one as the CPU's (``ROUNDING_ROOM`` times, or
    within 1e-5 norm-wise where both are at float32's resolution)."""
    gpu_error, cpu_error = norm_error(gpu, exact), norm_error(cpu, exact)
    assert cpu_error < 1e-3, f"{what}: the CPU's float32 is {cpu_error:.1e} from float64"
    assert gpu_error <= max(ROUNDING_ROOM * cpu_error, 1e-5), \
        f"{what}: the GPU's error {gpu_error:.1e} against float64, the CPU's {cpu_error:.1e}"


@pytest.mark.parametrize(("rule", "form"), [("gradient", "unfrozen"), ("deconvnet", "unfrozen"),
                                            ("guided", "frozen"), ("guided", "frozen, fast path off")])
def test_small_resnet_batch_on_gpu_equals_cpu(cupy, small_resnet, rule, form):
    """A batch of 3 by each ReLU rule. Unfrozen, batch norms stay ops; frozen, the fast path folds them (and
    runs F(2×2) Winograd on the GPU where the CPU takes F(4×4)); with ``fast(False)`` the reference ops run."""
    model = small_resnet.freeze() if form.startswith("frozen") else small_resnet.eval().requires_grad_(False)
    image = numpy.random.default_rng(2).standard_normal((3, 3, 64, 64), dtype=numpy.float32)
    results = {}
    with fast(form != "frozen, fast path off"):
        with on("cpu"):
            results["cpu"] = explain_pass(model, image, rule)
        move(model, "gpu")
        with on("gpu"):
            results["gpu"] = explain_pass(model, image, rule)
        with on("cpu"):
            results["float64"] = explain_pass(in_float64(model), image.astype(numpy.float64), rule)
    for k, what in enumerate(("logits", "input gradient")):
        assert_as_close_to_float64(*(results[device][k] for device in ("gpu", "cpu", "float64")), what)


def test_training_gradients_of_a_small_resnet_on_gpu_equal_cpu(cupy, small_resnet):
    """Training mode: batch statistics, every parameter's gradient (im2col and col2im for the 3×3 convs)."""
    image = numpy.random.default_rng(3).standard_normal((4, 3, 32, 32), dtype=numpy.float32)
    weights = numpy.random.default_rng(4).standard_normal((4, 5), dtype=numpy.float32)
    grads = {}
    for device in ("cpu", "gpu", "float64"):
        model = (in_float64(small_resnet) if device == "float64" else move(small_resnet, device)).train()
        for p in model.parameters():
            p.grad = None
        dtype = numpy.float64 if device == "float64" else numpy.float32
        with on("cpu" if device == "float64" else device):
            (model(Tensor(to_device(image.astype(dtype)))) * Tensor(to_device(weights.astype(dtype)))).sum().backward()
            grads[device] = {name: to_numpy(p.grad) for name, p in model.named_parameters()}
    assert len(grads["gpu"]) == len(list(small_resnet.parameters()))
    for name, exact in grads["float64"].items():
        assert_as_close_to_float64(grads["gpu"][name], grads["cpu"][name], exact, name)
