"""Shared fixtures. PyTorch is the oracle of the parity tests: where it is absent they skip with a reason,
except under CI=true, where a missing torch is a failure (CI installs the `parity` extra)."""
import os

import numpy
import pytest


def import_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("PyTorch is required for the parity tests in CI: pip install '.[parity]'")
        pytest.skip("PyTorch is not installed (pip install '.[parity]' for the parity tests)")
    torch.set_num_threads(1) if os.environ.get("OMP_NUM_THREADS") == "1" else None
    return torch


@pytest.fixture
def torch():
    """The torch module, or a skip (a failure under CI=true) when it is not installed."""
    return import_torch()


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)
