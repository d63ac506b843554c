"""ResNet: torchvision's names and sizes, the pre-ReLU map, gradients, batch-norm folding, settings."""
import numpy
import pytest
from references import randomize_batchnorm

import hadamard_min as hm
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.core.tensor import Tensor
from hadamard_min.models import Bottleneck, ResNet, resnet152, resnet_from_config
from hadamard_min.models.resnet import ResNetConfigError


def small_resnet(rng, dtype=numpy.float32, layers=(1, 2), width=4, num_classes=5):
    model = randomize_batchnorm(ResNet(layers, width=width, num_classes=num_classes, rng=rng), rng)
    return (model.astype(numpy.float64) if dtype == numpy.float64 else model).eval()


def test_resnet152_has_torchvisions_names_and_sizes():
    model = resnet152()
    assert model.num_parameters() == 60_192_808
    shapes = {name: tuple(array.shape) for name, array in model.state_dict().items()}
    assert len(shapes) == 467 + 2 * 155  # parameters, then running mean and variance of each batch norm
    assert shapes["conv1.weight"] == (64, 3, 7, 7)
    assert shapes["bn1.running_var"] == (64,)
    assert shapes["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert shapes["layer2.7.conv3.weight"] == (512, 128, 1, 1)
    assert shapes["layer3.35.conv2.weight"] == (256, 256, 3, 3)
    assert shapes["layer4.0.downsample.1.bias"] == (2048,)
    assert shapes["layer4.2.bn3.running_mean"] == (2048,)
    assert shapes["fc.weight"] == (1000, 2048) and shapes["fc.bias"] == (1000,)
    assert "layer3.36.conv1.weight" not in shapes and "layer1.1.downsample.0.weight" not in shapes
    assert [len(stage) for stage in model.stages()] == [3, 8, 36, 3]
    assert model.layer2[0].conv2.stride == 2 and model.layer2[0].conv1.stride == 1  # stride on the 3×3


def test_resnet152_output_shapes(rng):
    model = resnet152().eval().requires_grad_(False)
    x = Tensor(rng.standard_normal((1, 3, 64, 64)).astype(numpy.float32))
    with hm.no_grad():
        assert model.features(x).shape == (1, 2048, 2, 2)
        assert model(x).shape == (1, 1000)


def test_features_are_the_relu_of_the_pre_relu_map(rng):
    model = small_resnet(rng)
    x = Tensor(rng.standard_normal((2, 3, 32, 40)).astype(numpy.float32))
    pre = model.features(x, pre_relu=True).numpy()
    post = model.features(x).numpy()
    assert pre.shape == post.shape == (2, 32, 4, 5)
    assert (pre < 0).mean() > 0.1  # the test can fail: the pre-ReLU map has a real negative part
    numpy.testing.assert_array_equal(post, numpy.maximum(pre, 0))


def test_bottleneck_shortcut_is_identity_or_downsample(rng):
    same = Bottleneck(16, 4, stride=1, rng=rng)
    assert same.downsample is None
    wider = Bottleneck(8, 4, stride=1, rng=rng)
    strided = Bottleneck(16, 4, stride=2, rng=rng)
    assert wider.downsample[0].stride == 1 and strided.downsample[0].stride == 2
    x = Tensor(rng.standard_normal((1, 16, 9, 9)).astype(numpy.float32))
    assert strided.eval()(x).shape == (1, 16, 5, 5)


def test_gradcheck_through_features_in_float64(rng):
    model = small_resnet(rng, numpy.float64, layers=(1, 1), width=2)
    x = rng.standard_normal((1, 3, 12, 12))
    report = gradcheck(lambda t: model.features(t, pre_relu=True), x, projections=8)
    assert report.passed
    report = gradcheck(model, x, projections=8)
    assert report.passed


def test_config_rebuilds_the_architecture(rng):
    model = ResNet((2, 1, 1), width=8, num_classes=7, rng=rng)
    assert model.config() == {"layers": [2, 1, 1], "width": 8, "num_classes": 7}
    again = resnet_from_config(model.config())
    def shapes(m):
        return {name: array.shape for name, array in m.state_dict().items()}

    assert shapes(again) == shapes(model)
    assert model.out_channels == 8 * 4 * 4 and "layer3.0.downsample.0.weight" in again.state_dict()


@pytest.mark.parametrize("settings", [{"layers": ()}, {"layers": (1, 0)}, {"layers": (1,), "width": 0}])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ResNetConfigError, match="a ResNet needs"):
        ResNet(**settings)


def test_bench_runs_our_side_alone(capfd):
    from hadamard_min.cli.bench import main
    argv = ["--size", "32", "--depth", "50", "--runs", "2", "--warmup", "0", "--threads", "1", "--no-torch"]
    assert main(argv) == 0
    captured = capfd.readouterr()
    assert "run 2/2" in captured.err and "ResNet-50, 32×32" in captured.out and "n/a" in captured.out


@pytest.mark.parametrize("size", [32, 64])
def test_the_bench_network_is_well_scaled_at_its_smallest_sizes(size):
    """At 32×32 the last stage's map is one pixel: batch norms calibrated on it divided by a zero variance and
    the guided gradient was NaN (ResNet-50: 6e24). They are calibrated on a larger image instead."""
    from hadamard_min.cli.bench import parse_args
    from hadamard_min.cli.bench_sides import our_side
    args = parse_args(["--size", str(size), "--depth", "50", "--threads", "1", "--device", "cpu"])
    gradient = our_side(args).steps["explain"]()
    assert gradient.shape == (1, 3, size, size)
    assert numpy.isfinite(gradient).all() and 0 < numpy.abs(gradient).max() < 1e3


def test_astype_turns_every_parameter_and_buffer_and_drops_the_inference_forms():
    model = ResNet((1,), width=4, num_classes=3, rng=numpy.random.default_rng(0)).eval().freeze()
    x = numpy.random.default_rng(1).standard_normal((1, 3, 16, 16))
    with hm.no_grad():
        before = model(Tensor(x.astype(numpy.float32))).data  # builds the float32 inference forms
    model.astype(numpy.float64)
    arrays = [p.data for p in model.parameters()] + [b for _, b in model.named_buffers()]
    assert arrays and all(a.dtype == numpy.float64 for a in arrays)
    with hm.no_grad():
        after = model(Tensor(x)).data
        with hm.fast(False):  # no inference forms at all: the float64 network itself
            unfolded = model(Tensor(x)).data
    assert after.dtype == numpy.float64
    numpy.testing.assert_allclose(after, unfolded, rtol=1e-12, atol=1e-12)  # not the float32 forms' numbers
    numpy.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)
