"""A command's outputs are all written or none (a --json or --save-arrays that cannot be written leaves no
figure and no maps behind), an error on a file that refuses to be replaced names that file and not the hidden
temporary one, and the environment's switches read alike: blank means the default for HADAMARD_FAST as for
HADAMARD_DEVICE, HADAMARD_DEVICE takes --device's names in their case, and a --device given wins over
HADAMARD_DEVICE. An output is never put where a device or a pipe is, and a long name the file system allows is
not refused for its hidden temporary's sake.
"""
import contextlib
import os
import stat
import subprocess

import pytest
from hostile_helpers import run_main, snapshot

from hadamard_min.cli.bench import main as bench_main
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.cli.port import main as port_main
from hadamard_min.fast import switch
from hadamard_min.io import atomic, outputs
from hadamard_min.io.npz import save_weights

QUESTION = ["--question", "what shape is in the image?"]


@contextlib.contextmanager
def immutable(path):
    """``path`` made immutable (``chattr +i``) meanwhile; the test is skipped where that is not possible."""
    try:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("chattr is not installed")
    if done.returncode != 0:
        pytest.skip(f"chattr +i is refused here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_immutable_destination_is_named_not_the_hidden_temporary_file(tmp_path, capsys):
    save_weights(tmp_path / "w.npz", {"w": [1.0, 2.0]})
    (tmp_path / "out.npz").write_bytes(b"old")
    with immutable(tmp_path / "out.npz"):
        outcome = run_main(port_main, [tmp_path / "w.npz", tmp_path / "out.npz", "--force"], capsys)
        line = outcome.one_line_error(str(tmp_path / "out.npz"))
    assert ".tmp" not in line and (tmp_path / "out.npz").read_bytes() == b"old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.npz", "w.npz"]


def test_a_json_that_cannot_be_written_leaves_no_figure_and_no_maps(tmp_path, capsys, photo):
    (tmp_path / "out.json").write_text('{"answer": "old"}')
    before = snapshot(tmp_path)
    with immutable(tmp_path / "out.json"):
        outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png",
                                          "--json", tmp_path / "out.json", "--save-arrays", tmp_path / "e.npz"],
                           capsys)
        outcome.one_line_error("out.json", "immutable")
    assert snapshot(tmp_path) == before


def test_outputs_written_together_are_all_in_place_or_none(tmp_path):
    with pytest.raises(RuntimeError), atomic.together():
        atomic.write_text(tmp_path / "a.txt", "a")
        raise RuntimeError("the second output failed")
    assert list(tmp_path.iterdir()) == []
    with atomic.together():
        atomic.write_text(tmp_path / "a.txt", "a")
        assert not (tmp_path / "a.txt").exists()  # staged, not yet in place
        atomic.write_text(tmp_path / "b.txt", "b")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_outputs_written_together_have_no_name_until_all_are_written(tmp_path):
    """A process killed (SIGKILL) inside the block, while a later output is still being made, leaves nothing."""
    probe = atomic._open_unnamed(tmp_path)
    if probe is None:
        pytest.skip("this file system makes no unnamed files (O_TMPFILE)")
    os.close(probe)
    with atomic.together():
        atomic.write_text(tmp_path / "a.txt", "a")
        assert list(tmp_path.iterdir()) == []  # not even under a hidden name
        atomic.write_text(tmp_path / "b.txt", "b")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    assert (tmp_path / "a.txt").read_text() == "a"


@pytest.mark.parametrize("length", [236, 255])
def test_any_name_the_file_system_allows_can_be_written(tmp_path, length):
    name = "a" * (length - 4) + ".txt"
    atomic.write_text(tmp_path / name, "x")
    with atomic.together():
        atomic.write_text(tmp_path / ("b" * (length - 4) + ".txt"), "y")
    assert (tmp_path / name).read_text() == "x" and len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("kind", ["pipe", "device"])
def test_a_device_or_a_pipe_is_not_replaced_by_a_file(tmp_path, capsys, photo, kind):
    target = tmp_path / "out.json"
    if kind == "pipe":
        os.mkfifo(target)
    else:
        try:
            os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # as /dev/null
        except PermissionError:
            pytest.skip("making a device needs root")
    before = sorted(path.name for path in tmp_path.iterdir())
    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png",
                                      "--json", target], capsys)
    outcome.one_line_error(str(target), f"a {kind}")
    assert not stat.S_ISREG(os.lstat(target).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == before
    with pytest.raises(outputs.OutputClashError, match=f"a {kind}"):
        atomic.write_text(target, "x")


@pytest.mark.parametrize("value", ["", "  "])
def test_a_blank_hadamard_fast_is_the_default_as_a_blank_hadamard_device_is(tmp_path, capsys, photo, monkeypatch,
                                                                            value):
    monkeypatch.setattr(switch.FAST, "value", None)
    monkeypatch.setenv("HADAMARD_FAST", value)
    monkeypatch.setenv("HADAMARD_DEVICE", value)
    run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png"], capsys).success()
    assert switch.enabled() is True


@pytest.mark.parametrize("value", ["GPU", "CPU", " Cpu "])
def test_hadamard_device_takes_the_names_device_takes_in_their_case(tmp_path, capsys, photo, monkeypatch, value):
    # --device GPU was refused while HADAMARD_DEVICE=GPU was read as gpu: one spelling for both, as argparse's
    # choices and set_device("GPU") have it
    from hadamard_min.core import backend
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("HADAMARD_DEVICE", value)
    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png"], capsys)
    outcome.one_line_error("HADAMARD_DEVICE", repr(value), "cpu or gpu")
    assert not (tmp_path / "out.png").exists()
    run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png", "--device",
                            value.strip()], capsys).one_line_error("--device", "invalid choice")


def test_a_device_given_wins_over_a_bad_hadamard_device(tmp_path, capsys, photo, monkeypatch):
    monkeypatch.setenv("HADAMARD_DEVICE", "tpu")
    run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png", "--device", "cpu"],
             capsys).success()
    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "other.png"], capsys)
    outcome.one_line_error("HADAMARD_DEVICE")
    assert not (tmp_path / "other.png").exists()



def test_the_bench_takes_its_device_too(capsys, monkeypatch):
    monkeypatch.setenv("HADAMARD_DEVICE", "tpu")
    small = ["--no-torch", "--size", "32", "--depth", "50", "--runs", "1", "--warmup", "0"]
    run_main(bench_main, [*small, "--device", "cpu"], capsys).success()
    run_main(bench_main, small, capsys).one_line_error("HADAMARD_DEVICE")


@pytest.mark.parametrize("name", ["out.png", "out_heatmap.png", "out_alpha1.png", "out.json"])
def test_a_file_of_the_user_at_an_output_name_is_not_replaced(tmp_path, capsys, photo, name):
    """Only a PNG (the figure, the maps next to it) or a JSON object, what an earlier run wrote, is replaced."""
    (tmp_path / name).write_text("notes kept under a name the maps take")
    before = snapshot(tmp_path)
    arguments = ["--image", photo, *QUESTION, "--out", tmp_path / "out.png", "--json", tmp_path / "out.json"]
    run_main(explain_main, arguments, capsys).one_line_error(name, "is not a")
    assert snapshot(tmp_path) == before
    (tmp_path / name).unlink()
    run_main(explain_main, arguments, capsys).success()
    run_main(explain_main, arguments, capsys).success()  # an earlier run's figure, maps and JSON are replaced
    assert (tmp_path / "out_heatmap.png").read_bytes().startswith(outputs.PNG_SIGNATURE)


def test_the_wrote_lines_show_a_name_with_control_characters_escaped(tmp_path, capsys, photo):
    figure = tmp_path / "o\x1b[31mred\nX.png"
    outcome = run_main(explain_main, ["--image", photo, *QUESTION, "--out", figure, "--json", tmp_path / "j.json"],
                       capsys).success()
    wrote = [line for line in outcome.out.splitlines() if line.startswith("wrote")]
    assert wrote[0] == f"wrote {tmp_path}/o\\x1b[31mred\\nX.png" and figure.exists(), outcome.out
    assert "\x1b" not in outcome.out


def test_port_says_what_it_wrote_with_control_characters_escaped(tmp_path, capsys):
    save_weights(tmp_path / "w.npz", {"w": [1.0, 2.0]})
    outcome = run_main(port_main, [tmp_path / "w.npz", tmp_path / "p\x1b[2Jq.npz"], capsys).success()
    assert "\x1b" not in outcome.out and "p\\x1b[2Jq.npz" in outcome.out, outcome.out


def test_outputs_written_together_stay_as_they_were_when_one_cannot_be_named(tmp_path, monkeypatch):
    """Every output is named before any is put in place: a full disk while naming the second leaves the first."""
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(f"old {name}")
    naming = atomic._name
    calls = []

    def full_disk_on_the_second(handle, temporary):
        calls.append(temporary)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(temporary))
        return naming(handle, temporary)

    monkeypatch.setattr(atomic, "_name", full_disk_on_the_second)
    with pytest.raises(OSError, match="No space left"), atomic.together():
        atomic.write_text(tmp_path / "a.txt", "new a")
        atomic.write_text(tmp_path / "b.txt", "new b")
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == {"a.txt": "old a.txt", "b.txt": "old b.txt"}


def test_a_long_name_of_many_byte_characters_keeps_whole_characters_in_its_temporary(tmp_path):
    target = tmp_path / ("图" * 80 + ".txt")   # 244 bytes: the temporary's part is cut to 33 characters, 99 bytes
    hidden = atomic._temporary(target).name
    assert len(hidden.encode("utf-8")) < 255 and hidden.startswith("." + "图" * 33 + ".")
    atomic.write_text(target, "x")
    assert target.read_text() == "x"


def test_an_empty_file_at_an_output_name_is_replaced(tmp_path, capsys, photo):
    (tmp_path / "out.json").touch()
    run_main(explain_main, ["--image", photo, *QUESTION, "--out", tmp_path / "out.png", "--json",
                            tmp_path / "out.json"], capsys).success()
    assert (tmp_path / "out.json").read_text().startswith("{")


@pytest.mark.parametrize("name", ["n.npz", "n.json", "n.checkpoint.npz"])
def test_train_force_replaces_an_earlier_run_not_a_users_file(tmp_path, capsys, name):
    from hadamard_min.cli.train import main as train_main
    (tmp_path / name).write_text("my notes")
    before = snapshot(tmp_path)
    outcome = run_main(train_main, ["--out", tmp_path / "n.npz", "--limit-images", "4", "--epochs", "1",
                                    "--force"], capsys)
    outcome.one_line_error(name, "is not a")
    assert snapshot(tmp_path) == before
