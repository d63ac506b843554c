"""What every command shares: --version, help without noise, and the headline command without easy-VQA."""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hadamard_min
from hadamard_min.cli import evaluate, explain, port, train

ROOT = Path(__file__).resolve().parent.parent
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
