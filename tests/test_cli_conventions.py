"""What every command shares: --version, help without noise and with an example, the headline command without
easy-VQA, colour by the usual conventions, stdout holding only the result, ASCII locales, ``python -m
hadamard_min``, and the package's licence and metadata."""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_packaging import pyproject_file

import hadamard_min
import hadamard_min_launch
from hadamard_min import __main__ as runner
from hadamard_min.cli import bench, evaluate, explain, port, saliency, train
from hadamard_min.cli.checks import question_text
from hadamard_min.explain.terminal import use_color

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_QUESTION = (ROOT / "hadamard_min" / "assets" / "example.txt").read_text().strip()
COMMANDS = {"hadamard-explain": explain, "hadamard-train": train, "hadamard-port": port,
            "hadamard-evaluate": evaluate}


def exit_with(main, argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    return stopped.value.code, capsys.readouterr()


def test_the_version_has_one_home():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "hadamard_min.__version__"' in pyproject
    assert hadamard_min.__version__.count(".") == 2


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_version(prog, capsys):
    code, printed = exit_with(COMMANDS[prog].main, ["--version"], capsys)
    assert code == 0 and printed.out.strip() == f"{prog} {hadamard_min.__version__}"


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_help_shows_each_default_once_and_no_noise(prog, capsys):
    code, printed = exit_with(COMMANDS[prog].main, ["--help"], capsys)
    assert code == 0 and "--version" in printed.out
    for noise in ("(default: None)", "(default: False)", "(default: True)", "default: None"):
        assert noise not in printed.out, noise
    for option in printed.out.split("\n  -")[1:]:          # one block per option
        assert len(re.findall(r"default[:)]", " ".join(option.split()))) <= 1, option


@pytest.mark.parametrize("module", [explain, train, evaluate])
def test_every_option_has_help(module):
    for action in module.parser()._actions:
        if action.option_strings and action.help is not argparse.SUPPRESS:
            assert action.help and action.help.strip(), action.option_strings


def test_headline_command_runs_without_easy_vqa(tmp_path):
    """`pip install -e .` without extras: hadamard-explain reads the shipped example, never easy_vqa."""
    code = ("import sys; sys.modules['easy_vqa'] = None\n"      # makes `import easy_vqa` fail
            "from hadamard_min.cli.explain import main; sys.exit(main([]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "explanation.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- every command's help
ALL_COMMANDS = {**COMMANDS, "hadamard-bench": bench, "hadamard-saliency": saliency}


@pytest.mark.parametrize("prog", sorted(ALL_COMMANDS))
def test_every_help_ends_with_an_example_and_names_no_repository_path(prog, capsys):
    code, printed = exit_with(ALL_COMMANDS[prog].main, ["--help"], capsys)
    assert code == 0 and f"example: {prog} " in printed.out
    assert "weights/" not in printed.out and "hadamard_min/" not in printed.out  # a wheel has neither


@pytest.mark.parametrize("module", [explain, train, evaluate])
def test_device_is_described(module):
    device, = [action for action in module.parser()._actions if "--device" in action.option_strings]
    assert "cpu (NumPy)" in device.help and "gpu (CuPy" in device.help and "HADAMARD_DEVICE" in device.help


@pytest.fixture
def signals_restored():
    """The launcher installs its handlers and holds the signals at the end: put this process's back."""
    handlers = [signal.getsignal(signum) for signum in hadamard_min_launch.SIGNALS]
    yield
    for signum, handler in zip(hadamard_min_launch.SIGNALS, handlers):
        signal.signal(signum, handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, hadamard_min_launch.SIGNALS)


def test_python_dash_m_runs_every_console_script(capsys, signals_restored):
    """Through the console scripts' launcher (its signal handlers); no command, or an unknown one, in one line."""
    scripts = pyproject_file()["project"]["scripts"]
    assert {f"hadamard-{name}": f"hadamard_min_launch:{name}" for name in runner.COMMANDS} == scripts
    code, printed = exit_with(runner.main, ["explain", "--version"], capsys)
    assert code == 0 and printed.out.strip() == f"hadamard-explain {hadamard_min.__version__}"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN   # held at the end, as the launcher does
    code, printed = exit_with(runner.main, ["hadamard-train", "--version"], capsys)
    assert code == 0 and printed.out.strip() == f"hadamard-train {hadamard_min.__version__}"
    assert runner.main(["nope"]) == 2 and "unknown command 'nope'" in capsys.readouterr().err
    assert runner.main([]) == 2 and capsys.readouterr().err.count("\n") == 1
    assert runner.main(["--version"]) == 0 and capsys.readouterr().out == f"hadamard-min {hadamard_min.__version__}\n"


# --------------------------------------------------------------------------- colour
class Stream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("env, tty, expected", [
    ({}, True, True), ({}, False, False),
    ({"NO_COLOR": "1"}, True, False), ({"NO_COLOR": ""}, True, True),          # no-color.org: non-empty
    ({"TERM": "dumb"}, True, False),
    ({"FORCE_COLOR": "1"}, False, True), ({"FORCE_COLOR": "1", "TERM": "dumb"}, False, True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, False),                        # NO_COLOR wins
])
def test_colour_follows_no_color_force_color_and_term_dumb(monkeypatch, env, tty, expected):
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert use_color(Stream(tty)) is expected


@pytest.mark.parametrize("env, coloured", [({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
                                           ({"TERM": "dumb"}, False)])
def test_hadamard_explain_colours_the_words_and_keeps_their_z_scores(tmp_path, monkeypatch, capsys, env, coloured):
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run_explain(["--out", str(tmp_path / "e.png")], capsys)
    question = out.splitlines()[0]
    assert code == 0 and ("\x1b[48;2;" in question) is coloured and "\x1b" not in err
    assert len(re.findall(r"\w\([+-]\d\.\d\d\)", question)) == len(EXAMPLE_QUESTION.split()), question


# --------------------------------------------------------------------------- stdout holds the result alone
def run_explain(argv, capsys):
    capsys.readouterr()
    code = explain.main(argv)
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def test_json_to_stdout_is_the_json_alone_and_writes_no_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_explain(["--question", "is the zebra red?", "--json", "-"], capsys)
    data = json.loads(out)                                      # nothing else on stdout
    assert code == 0 and data["figure"] is None and data["maps"] == {} and list(tmp_path.iterdir()) == []
    assert "zebra" in data["unknown_words"] and "note: words the model never saw" in err and "wrote" not in err


def test_json_to_stdout_with_out_writes_the_figure_and_maps_and_says_so_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_explain(["--json", "-", "--out", "mine.png"], capsys)
    data = json.loads(out)
    assert code == 0 and data["figure"] == "mine.png" and len(data["maps"]) == 4
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["mine.png", *data["maps"].values()])
    assert "wrote mine.png" in err and "wrote 4 maps" in err and "wrote -" not in err


def test_the_unknown_words_note_goes_to_stderr(tmp_path, capsys):
    code, out, err = run_explain(["--question", "is the zebra red?", "--out", str(tmp_path / "e.png")], capsys)
    assert code == 0 and "note:" not in out and "<unk>: zebra" in err and "answer:" in out


# --------------------------------------------------------------------------- ASCII locales
def test_an_ascii_locale_neither_crashes_help_nor_cuts_a_word(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUTF8": "0", "LC_ALL": "C", "NO_COLOR": "1"}
    shown = subprocess.run([sys.executable, "-m", "hadamard_min", "explain", "--help"], capture_output=True,
                           env=env, cwd=tmp_path, timeout=300)
    assert shown.returncode == 0 and b"Traceback" not in shown.stderr and b"\\u2207v" in shown.stdout  # ∇v
    result = subprocess.run([sys.executable, "-m", "hadamard_min", "explain", "--question", "is the café red?",
                             "--json", "-"], capture_output=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tokens"] == ["is", "the", "café", "red"] and data["unknown_words"] == ["café"]
    assert b"<unk>: caf\\xe9" in result.stderr


def test_an_argument_read_under_an_ascii_locale_gets_its_utf8_back():
    assert question_text("caf\udcc3\udca9") == "café" and question_text("café") == "café"
    assert question_text("caf\udce9") == "caf\ufffd"  # latin-1 bytes are no UTF-8: one replacement character


# --------------------------------------------------------------------------- files and packaging
def test_loading_a_missing_explanation_says_so():
    with pytest.raises(FileNotFoundError, match=r"explanation file not found: nope\.npz") as raised:
        hadamard_min.Explanation.load("nope.npz")
    assert "weights" not in str(raised.value)


def test_license_classifiers_keywords_and_a_torch_range():
    project = pyproject_file()["project"]
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "hadamard-min authors" in license_text
    assert project["license"] == {"text": "MIT"} and "License :: OSI Approved :: MIT License" in project["classifiers"]
    assert len(project["keywords"]) >= 5
    for extra in ("parity", "torch"):
        torch_requirement, = [r for r in project["optional-dependencies"][extra] if r.startswith("torch")]
        assert "==" not in torch_requirement and ">=" in torch_requirement and "<" in torch_requirement


def test_every_readme_image_has_alt_text():
    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", readme)
    assert images and all(len(alt.split()) >= 2 for alt, _ in images), images
    assert all('alt="' in tag for tag in re.findall(r"<img\b[^>]*>", readme))
