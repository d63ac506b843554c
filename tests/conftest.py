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


@pytest.fixture(params=["numpy", "numba"])
def cpu_forms(request):
    """Runs a test twice: the fast forms as NumPy code, then as the fused Numba kernels (``fast/compiled.py``).
    Without Numba the second run skips, except under HADAMARD_REQUIRE_NUMBA=1 (CI's run with the extra
    ``.[fast]``), where a missing Numba is a failure, so those tests cannot pass by skipping."""
    from hadamard_min.fast import compiled, switch
    if request.param == "numba" and not compiled.available():
        if os.environ.get("HADAMARD_REQUIRE_NUMBA") == "1":
            pytest.fail("Numba is required here (HADAMARD_REQUIRE_NUMBA=1): pip install '.[fast]'")
        pytest.skip("Numba is not installed (pip install '.[fast]' for the fused CPU kernels)")
    with switch.numba_kernels(request.param == "numba"):
        yield request.param
