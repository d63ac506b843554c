"""A --resume checkpoint whose random state, settings or history were edited by hand: a PCG64 state NumPy
cannot hold, a dropout key cut short or of floats, a seed written as text, epochs whose times add up to more
than a float holds. Each is one line and exit 2, and the checkpoint is left as it was."""
import numpy
import pytest
from hostile_helpers import STOPPED_RUN, run_main, sha256

from hadamard_min.cli.train import main as train_main
from hadamard_min.io.npz import load_npz_metadata, save_weights
from hadamard_min.io.weights import load_weights
from hadamard_min.training.random_state import KEY


def _negative_state(metadata):
    metadata["random_state"]["batches"]["state"]["state"] = -1  # NumPy: OverflowError, out of bounds for uint64


def _two_long_epochs(metadata):
    first = metadata["history"][0]
    metadata["epoch"], metadata["history"] = 2, [{**first, "seconds": 1.7e308}, {**first, "seconds": 1.7e308}]


EDITS = {
    "a negative PCG64 state": (_negative_state, None, ["random state"]),
    "a dropout key of five numbers": (None, lambda arrays: arrays.update({KEY: arrays[KEY][:5]}), ["random state"]),
    "a dropout key of floats": (None, lambda arrays: arrays.update({KEY: arrays[KEY] + 0.5}), ["random state"]),
    "a seed written as text": (lambda metadata: metadata["settings"].update(seed="0"), None, ["settings"]),
    "a learning rate of null": (lambda metadata: metadata["settings"].update(lr=None), None, ["settings"]),
    "epochs of 1.7e308 s each": (_two_long_epochs, None, ["more seconds than a float holds"]),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_hand_edited_checkpoint_is_one_line(stopped_run, tmp_path, capsys, edit):
    change_metadata, change_arrays, words = EDITS[edit]
    arrays = load_weights(stopped_run / "model.checkpoint.npz")
    metadata = load_npz_metadata(stopped_run / "model.checkpoint.npz")
    for change, what in ((change_metadata, metadata), (change_arrays, arrays)):
        if change:
            change(what)
    checkpoint = tmp_path / "model.checkpoint.npz"
    save_weights(checkpoint, arrays, metadata)
    before = sha256(checkpoint)
    outcome = run_main(train_main, ["--out", tmp_path / "model.npz", *STOPPED_RUN[:2], *STOPPED_RUN[4:], "--resume"],
                       capsys)
    outcome.last_line_error("model.checkpoint.npz", *words)
    assert sha256(checkpoint) == before and not (tmp_path / "model.npz").exists()


def test_the_dropout_key_a_run_writes_is_the_one_it_takes(stopped_run):
    key = load_weights(stopped_run / "model.checkpoint.npz")[KEY]
    assert key.dtype == numpy.uint32 and key.shape == (624,)
