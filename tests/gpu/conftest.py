"""The GPU tests: the same computation on CuPy and on NumPy, compared. Every test in this folder is skipped,
with the reason, where CuPy or a CUDA device is missing (``tests/gpu/run_on_device.sh`` runs them on a
machine that has both).

Where CuPy is not installed and ``HADAMARD_STRICT_CUPY=1`` is set (CI sets it for a run of this folder),
they run instead on a strict stand-in for CuPy (``strict_cupy/cupy``, NumPy behind CuPy's rules; its
docstring says what that can and cannot show), imported as ``cupy`` here and by the commands the tests start.
"""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
STAND_IN = HERE / "strict_cupy"


def use_stand_in():
    """Put the stand-in first on the path (this process's and its children's) when it is asked for and CuPy
    is not installed."""
    if os.environ.get("HADAMARD_STRICT_CUPY") != "1":
        return
    spec = importlib.util.find_spec("cupy")
    if spec is not None and STAND_IN not in Path(spec.origin).resolve().parents:
        return  # the real CuPy
    if "hadamard_min" in sys.modules and spec is None:
        raise RuntimeError("HADAMARD_STRICT_CUPY=1: hadamard_min was imported before the CuPy stand-in could be "
                           "installed; run `pytest tests/gpu` on its own")
    sys.path.insert(0, str(STAND_IN))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STAND_IN), os.environ.get("PYTHONPATH")]))


use_stand_in()


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
