"""What a notebook user types by mistake is answered in the user's terms: a misspelt keyword is named with the
one it is closest to, a Python call's error names its argument (not only the command's flag), and an
argument of the right value but the wrong kind is not described as out of range."""
import numpy
import pytest
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.data.images import load_image
from hadamard_min.explain.maps import FigureInputError
from hadamard_min.explain.methods import MethodError

IMAGE = numpy.random.default_rng(6).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)
QUESTION = "what color is the shape?"


@pytest.fixture(scope="module")
def model():
    return tiny_float64_model()


@pytest.mark.parametrize("keywords, words", [
    ({"methd": "gradcam"}, r"unknown option methd \(did you mean method\?\): the keywords are method, answer, "),
    ({"topk": 3}, r"unknown option topk \(did you mean top_k\?\)"),
    ({"batchsize": 2}, r"unknown option batchsize \(did you mean batch_size\?\)"),
    ({"zzz": 1}, r"unknown option zzz: the keywords are .* for the hadamard method, fix_f, sign, guided"),
])
def test_a_misspelt_keyword_is_named_with_the_one_it_is_closest_to(model, keywords, words):
    """'unknown option methd: the options are fix_f, sign, guided' left out method itself."""
    with pytest.raises(MethodError, match=words):
        hm.explain(model, IMAGE, QUESTION, **keywords)


def test_an_answer_for_the_hadamard_method_names_the_argument_of_the_call(model):
    with pytest.raises(MethodError, match=r"^answer \(--answer\) names the answer"):
        hm.explain(model, IMAGE, QUESTION, answer="yes")


@pytest.mark.parametrize("alpha", [numpy.array(0.5), "0.5"])
def test_overlay_names_an_alpha_in_range_but_not_a_number_as_such(alpha):
    """numpy.array(0.5) was refused as 'alpha must lie in [0, 1], not 0.5'."""
    with pytest.raises(FigureInputError, match=r"alpha must be a number in \[0, 1\], not (array\(0\.5\)|'0\.5')"):
        hm.overlay(IMAGE, numpy.ones((2, 2)), alpha=alpha)


def test_load_model_of_a_manifest_names_the_model_file_beside_it():
    """It was verified against itself and read 'is corrupt or was changed …; restore the file (git checkout)'."""
    from hadamard_min.io.model_files import SHIPPED_MODEL, ModelFileError, manifest_path

    with pytest.raises(ModelFileError, match=r"is a model's manifest \(its sha256\), not a model file: give the "
                                             r"\.npz file \(.*easyvqa_mlb\.npz\)"):
        hm.load_model(manifest_path(SHIPPED_MODEL))
    with pytest.raises(ModelFileError, match=r"model file not found: .* \(check the path given to load_model"):
        hm.load_model("no/such/model.npz")


def test_learner_refuses_an_empty_path():
    """pathlib reads '' as '.': the block ran on the folder the notebook was in, every op 'missing', unsaid."""
    from hadamard_min.learner.ops import LearnerError

    with pytest.raises(LearnerError, match="the folder's path is empty"):
        with hm.learner(""):
            pass


@pytest.mark.parametrize("device, words", [("tpu", r"device must be None, 'cpu' or 'gpu', not 'tpu'"),
                                           ("cuda", r"not 'cuda'")])
def test_to_device_refuses_a_device_it_does_not_know(device, words):
    """'tpu' or 'cuda' was read as the CPU without a word."""
    from hadamard_min.core import backend

    with pytest.raises(backend.UnknownDeviceError, match=words):
        hm.to_device(numpy.ones(2), device)


def test_to_device_gpu_without_cupy_says_what_to_install(monkeypatch):
    """It raised AttributeError: 'NoneType' object has no attribute 'asarray'."""
    from hadamard_min.core import backend

    monkeypatch.setattr(backend, "cupy", None)
    with pytest.raises(hm.DeviceError, match="CuPy is not installed"):
        hm.to_device(numpy.ones(2), "gpu")


def test_to_device_gpu_with_cupy_but_no_cuda_device_says_so(monkeypatch):
    """CuPy installed on a machine with no CUDA device (a laptop): to_device(x, 'gpu') skipped the check that
    set_device('gpu') makes, and raised CuPy's own CUDA error from cupy.asarray."""
    from types import SimpleNamespace

    from hadamard_min.core import backend

    def no_device(array):
        raise AssertionError("cupy.asarray reached: CUDARuntimeError: cudaErrorNoDevice")

    fake = SimpleNamespace(asarray=no_device, ndarray=type(None),
                           cuda=SimpleNamespace(runtime=SimpleNamespace(getDeviceCount=lambda: 0)))
    monkeypatch.setattr(backend, "cupy", fake)
    with pytest.raises(hm.DeviceError, match="no CUDA device was found"):
        hm.to_device(numpy.ones(2), "gpu")


def test_plot_explanation_into_an_axes_takes_the_title(model):
    """title= was checked, then dropped where ax= was given: the panel kept its own title, unsaid."""
    from matplotlib.figure import Figure

    e = hm.explain(model, IMAGE, QUESTION)
    assert hm.plot_explanation(e, ax=Figure().add_subplot(), title="mine $x$").get_title() == "mine $x$"
    assert hm.plot_explanation(e, ax=Figure().add_subplot()).get_title().startswith(f"∇v · {e.answer} (p = ")


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 5, 3), (3, 0)])
def test_overlay_refuses_an_empty_image_as_explain_does(shape):
    with pytest.raises(FigureInputError, match="empty"):
        hm.overlay(numpy.zeros(shape, numpy.uint8), numpy.ones((2, 2)))


def test_overlay_reads_an_array_as_explain_does():
    """(H, W, 1) and (H, W, 4) arrays, which hm.explain reads (gray; alpha on white), were refused."""
    rgba = numpy.zeros((4, 6, 4), numpy.uint8)
    rgba[..., 0], rgba[:2, :, 3] = 200, 255  # red on the top rows, transparent below: white
    heat = numpy.zeros((2, 2))
    numpy.testing.assert_array_equal(hm.overlay(rgba, heat), hm.overlay(load_image(rgba), heat))
    assert (hm.overlay(rgba, heat)[2:] == 255).all() and (hm.overlay(rgba, heat)[:2, :, 0] == 200).all()
    gray = numpy.arange(24, dtype=numpy.uint8).reshape(4, 6, 1)
    numpy.testing.assert_array_equal(hm.overlay(gray, heat), hm.overlay(gray[..., 0], heat))
