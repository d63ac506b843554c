"""Fixtures of the hostile-input tests (their helpers are in hostile_helpers.py)."""
import pytest
from hostile_helpers import STOPPED_RUN, run_child, write_photo


@pytest.fixture
def photo(tmp_path):
    """A 64×64 PNG to explain: ``tmp_path/photo.png``."""
    return write_photo(tmp_path / "photo.png")


@pytest.fixture(scope="session")
def stopped_run(tmp_path_factory):
    """A run of 3 epochs stopped after 1: its model, manifest and checkpoint (tests copy them, never change them)."""
    folder = tmp_path_factory.mktemp("run")
    outcome = run_child(["hadamard_min.cli.train", "--out", "model.npz", *STOPPED_RUN], folder)
    assert outcome.code == 0, outcome.err
    return folder
