"""A folder that cannot be written in is found before the work, not at its end: hadamard-train trained an epoch
and hadamard-evaluate ran its whole evaluation before failing on their first file. Each command now refuses it
in one line, naming the folder, before its training or evaluation, and leaves nothing there; an evaluation stopped
before its report leaves no empty folder."""
import os
import subprocess

import pytest
from hostile_helpers import run_main

from hadamard_min.cli.evaluate import main as evaluate_main
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.port import main as port_main
from hadamard_min.cli.train import main as train_main
from hadamard_min.io.model_files import SHIPPED_MODEL
from hadamard_min.io.outputs import OutputNotWritableError, check_outputs


@pytest.fixture
def locked(tmp_path):
    """A folder this process cannot write in: immutable (``chattr +i``) for root, whom modes do not stop, else
    mode 0o555; skipped where neither holds."""
    folder = tmp_path / "locked"
    folder.mkdir()
    root = os.geteuid() == 0
    if root:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("chattr +i is not available here")
    else:
        folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        yield folder
    else:
        pytest.skip("the folder stayed writable")
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_check_outputs_names_a_folder_it_cannot_write_in(locked, tmp_path):
    with pytest.raises(OutputNotWritableError, match=f"folder {locked} cannot be written in") as refused:
        check_outputs({"--out": tmp_path / "fine.png", "--json": locked / "e.json"})
    assert refused.value.filename == str(locked / "e.json")
    check_outputs({"--out": tmp_path / "fine.png"})
    assert sorted(os.listdir(tmp_path)) == ["locked"] and os.listdir(locked) == []


@pytest.mark.parametrize("command, argv", [
    (train_main, ["--epochs", "1", "--limit-images", "4", "--batch-images", "4", "--out", "{locked}/model.npz"]),
    (evaluate_main, ["--examples", "1", "--force", "--out", "{locked}"]),
    (explain_main, ["--out", "{locked}/explanation.png"]),
    (port_main, [str(SHIPPED_MODEL), "{locked}/ported.npz"]),
])
def test_each_command_refuses_it_before_its_work(locked, capsys, command, argv):
    outcome = run_main(command, [arg.format(locked=locked) for arg in argv], capsys)
    assert outcome.code == 2 and not outcome.escaped, outcome
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1 and f"{locked} cannot be written in" in lines[0], outcome.err
    assert "epoch" not in outcome.err + outcome.out and "example" not in outcome.err, outcome
    assert os.listdir(locked) == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt, MemoryError])
def test_an_evaluation_stopped_before_its_report_leaves_no_empty_folder(tmp_path, capsys, monkeypatch, stop):
    """The folders --out made (evaluation/ and any parent) go again, empty; a folder that was there stays."""
    def stopped(*args, **kwargs):
        raise stop()

    monkeypatch.setattr("hadamard_min.cli.evaluate.evaluate", stopped)
    outcome = run_main(evaluate_main, ["--examples", "1", "--out", tmp_path / "new" / "evaluation"], capsys)
    assert outcome.code in (2, 130) and not outcome.escaped and os.listdir(tmp_path) == [], outcome
    (tmp_path / "kept").mkdir()
    outcome = run_main(evaluate_main, ["--examples", "1", "--force", "--out", tmp_path / "kept"], capsys)
    assert outcome.code in (2, 130) and sorted(os.listdir(tmp_path)) == ["kept"], outcome
