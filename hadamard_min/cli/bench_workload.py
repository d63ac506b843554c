"""What ``hadamard-bench`` times, shared by its driver and its two worker processes (ours and PyTorch's):
the ResNet depths, the input and the seed of the explained class, and the pass's arithmetic; and one batch of
``--explain-rate``.

The explain pass of a frozen ResNet is its forward pass and the backward of one class score to the pixels,
with no weight gradients: each convolution runs once forward and once backward to its input, the same
multiply-adds both ways. As a direct convolution a k×k convolution with C inputs and O outputs costs
2·O·C·k²·Ho·Wo floating-point operations per image each way. Ours runs its 3×3 stride-1 convolutions as
Winograd's F(m×m, 3×3) (``fast/winograd.py``), whose matrix products cost 2·(m+2)²·O·C per m×m output tile.
Divided by the rate of a large float32 matrix product on the same machine (SGEMM, the fastest work a CPU
does), these counts give the pass's floor: the time it would take if it were nothing but SGEMM.
"""
import numpy

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
TARGET_CLASS = 0  # the class whose score is explained (any fixed class: the work is the same)
GEMM_SHAPE = (256, 2304, 3136)  # (M, K, N) of the SGEMM whose rate is measured: a 3×3 conv of ResNet's layer1


class BenchError(RuntimeError):
    """The benchmark cannot run as asked."""


def bench_input(seed, batch, size):
    """The image batch (batch, 3, size, size) of standard normal float32 values drawn with ``seed``."""
    return numpy.random.default_rng(seed).standard_normal((batch, 3, size, size), dtype=numpy.float32)


def one_hot(batch, classes):
    """The seed of the backward pass: 1 at ``TARGET_CLASS`` for every image, 0 elsewhere."""
    seed = numpy.zeros((batch, classes), dtype=numpy.float32)
    seed[:, TARGET_CLASS] = 1
    return seed


def convolutions(layers, size, width=64):
    """(C, O, k, stride, H, W) of every convolution of the ResNet ``layers`` on a size×size image, H×W its input."""
    side = (size + 2 * 3 - 7) // 2 + 1
    found = [(3, width, 7, 2, size, size)]
    side = (side + 2 - 3) // 2 + 1                                      # max-pool 3×3/2
    cin = width
    for i, blocks in enumerate(layers):
        planes = width * 2 ** i
        for b in range(blocks):
            stride = 2 if i > 0 and b == 0 else 1
            out = (side - 1) // stride + 1
            found += [(cin, planes, 1, 1, side, side), (planes, planes, 3, stride, side, side),
                      (planes, 4 * planes, 1, 1, out, out)]
            if b == 0:
                found.append((cin, 4 * planes, 1, stride, side, side))
            cin, side = 4 * planes, out
    return found


def explain_flops(layers, size, batch, tile=None):
    """Floating-point operations of the explain pass's convolutions, forward and backward to the input.

    ``tile`` is a function (C, O, H, W) → the output tile m of the Winograd form that runs a 3×3 stride-1
    convolution (None: a direct convolution); such a convolution is then counted as its matrix products.
    """
    total = 0
    for c, o, k, stride, h, w in convolutions(layers, size):
        ho, wo = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
        m = tile(c, o, h, w) if tile and (k, stride) == (3, 1) else None
        if m:
            total += 2 * (m + 2) ** 2 * o * c * (-(-h // m)) * (-(-w // m))
        else:
            total += 2 * o * c * k * k * ho * wo
    return 2 * batch * total  # forward and backward alike


def explain_rate_batch(job, index):
    """∇v (eq. 2) of the batch ``index`` of ``--explain-rate``, here or in a worker process."""
    from hadamard_min import fast
    from hadamard_min.explain.hadamard import deviation_gradients

    model, batches, fast_path = job
    inputs, _, _, questions = batches[index]
    with fast(fast_path), model.frozen():
        out, I, q, _ = model.forward_from_leaves(inputs, questions)
        return deviation_gradients(out, I, q)[0]
