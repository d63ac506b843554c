"""The GPU tests: the same computation on CuPy and on NumPy, compared. Every test in this folder is skipped,
with the reason, where CuPy or a CUDA device is missing (CI has neither; ``tests/gpu/run_on_device.sh``
runs them on a machine that has both)."""
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def why_no_gpu():
    """None when CuPy and a CUDA device are both there, else what is missing (one line)."""
    try:
        import cupy
    except Exception as error:  # ImportError, or a CuPy built for another CUDA
        return f"CuPy is not importable ({type(error).__name__}: {error}); pip install 'hadamard-min[gpu13]'"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        return f"CuPy finds no CUDA device ({type(error).__name__}: {error})"
    return None if count else "CuPy finds no CUDA device"


def pytest_collection_modifyitems(config, items):
    reason = why_no_gpu()
    if reason is None:
        return
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=f"GPU tests: {reason}"))


@pytest.fixture
def cupy():
    """The CuPy module (tests choose the device of each step with ``gpu_helpers.on``)."""
    import cupy
    return cupy
