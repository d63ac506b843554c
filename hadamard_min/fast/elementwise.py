"""ReLU in fewer passes over memory: the reference op's numbers, for NumPy arrays (and CuPy arrays that no
fused kernel takes, ``fast/fused.py``); max pooling is in ``fast/phases.py``.

On a CPU this op is bound by memory, not arithmetic: each NumPy call reads and writes whole arrays, and a
cast (bool → float) costs more than a pass. So:

    op            reference (ops/)                         here
    ReLU forward  m = [x > 0]; y = x · m   (float·bool cast) y = max(x, 0); m = [x > 0], kept as bits
    guided back   dx = dy · (m ∧ [dy > 0])  (3 passes)      dx = max(dy, 0) · m

The ReLU's mask waits for the backward pass, one per ReLU of the network: packed eight to a byte it holds
an eighth of the memory (a ResNet-152 explain pass at 448×448 keeps 84 MB of masks as bytes, 11 MB as bits),
for two passes over bytes (pack and unpack) that cost about a tenth of the ReLU's own.
"""
from hadamard_min.core.backend import array_module


def relu_forward(x):
    """(y, mask) of ``ops.relu.ReLU.forward``: y = max(x, 0), mask = [x > 0] packed into bits (C order)."""
    xp = array_module(x)
    return xp.maximum(x, 0), xp.packbits(x > 0)


def relu_backward(dy, mask, rule):
    """dx of ``ops.relu.ReLU.backward`` for ``rule``: dy·m (gradient), max(dy, 0)·m (guided), max(dy, 0)."""
    xp = array_module(dy)
    if rule == "deconvnet":
        return xp.maximum(dy, 0)
    mask = xp.unpackbits(mask)[:dy.size].view(bool).reshape(dy.shape)
    return (dy if rule == "gradient" else xp.maximum(dy, 0)) * mask
