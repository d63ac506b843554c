"""Fixtures of the hostile-input tests (their helpers are in hostile_helpers.py)."""
import pytest
from hostile_helpers import write_photo


@pytest.fixture
def photo(tmp_path):
    """A 64×64 PNG to explain: ``tmp_path/photo.png``."""
    return write_photo(tmp_path / "photo.png")
