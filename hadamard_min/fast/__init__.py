"""The fast path: the same math as the reference ops in ``hadamard_min/ops/``, computed faster.

    switch.py        the one switch: on by default; ``HADAMARD_FAST=0`` or ``with hm.fast(False):`` turns it off
    frozen.py        a frozen network's conv + batch norm folded into one convolution (its inference form)
    winograd.py      3×3 convolutions as Winograd F(2×2, 3×3) or F(4×4, 3×3): 2.25× or 4× fewer multiplications
    phases.py        strided convolutions and max pooling over phase planes: each window offset one slice
    elementwise.py   ReLU in two passes without casts, its mask kept as bits
    fused.py         ReLU and im2col/col2im as single CUDA kernels on a GPU
    cuda_kernels.py  those kernels' CUDA sources
    compiled.py      whether an array goes through the fused CPU kernels (Numba, the extra ``.[fast]``)
    cpu_kernels.py   ReLU, one pass each way; the kernels' list, and the loading of them all
    cpu_winograd.py  the Winograd tile transforms, F(2×2) and F(4×4), one pass each
    cpu_windows.py   the max-pool both ways and a strided convolution's col2im, a plane at a time
    cpu_compile.py   how those kernels are compiled (cached on disk, the GIL let go)

Which form runs is decided in one place, ``hadamard_min/nn/functional.py``, by this switch and by whether
the model is frozen (``Module.freeze()``), never by a gradient flag or an array's properties. Every fast
form is tested equal to its reference op (``tests/test_fast_path.py``).
"""
from hadamard_min.fast.switch import FastSwitchError, enabled, fast

__all__ = ["FastSwitchError", "enabled", "fast"]
