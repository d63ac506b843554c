"""Lesson 9: making it fast, without changing the answer: Winograd, batch-norm folding, one switch.

The reference ops (``hadamard_min/ops/``) are the definition; the fast path (``hadamard_min/fast/``) computes
the same numbers with less work, and ``hadamard_min/nn/functional.py`` is the one place that picks between
them: the fast form when the switch is on (the default; ``HADAMARD_FAST=0`` or ``with hm.fast(False):``
turns it off) and, for folding and Winograd, only for a model frozen by ``model.freeze()``.

Part 1 derives Winograd's F(2, 3) from four products, reads off its matrices Bᵀ, G, Aᵀ, nests it into
F(2×2, 3×3) and checks it on one 4×4 tile against the direct correlation (16 multiplications instead of 36).
The CPU path runs its bigger sibling F(4×4, 3×3) (36 for 144) where a layer has at most 128 input channels,
and F(2×2, 3×3) above (``fast/winograd.py``).
Part 2 folds a batch norm into the convolution before it and checks the result. Part 3 times ResNet-152's
explain pass (forward, then guided backward to the pixels) on both paths and checks that they agree.

    python lessons/09_making_it_fast.py            # ResNet-152 at 448×448 (about a minute on 2 cores)
    python lessons/09_making_it_fast.py --quick    # ResNet-50 at 112×112 (seconds)
"""
import time

import _lesson
import numpy

import hadamard_min as hm
from hadamard_min import Tensor, guided_backprop, ops
from hadamard_min.fast import winograd
from hadamard_min.fast.frozen import fold_conv_bn
from hadamard_min.fast.winograd import output_tile as winograd_tile
from hadamard_min.models import ResNet
from hadamard_min.models.resnet import calibrate_batchnorm
from hadamard_min.nn.layers import BatchNorm2d, Conv2d


# --------------------------------------------------------------------------- part 1: Winograd
def correlate(d, g):
    """What a network calls convolution: y[i, j] = Σ_{a,b} g[a, b] · d[i + a, j + b] (no padding)."""
    k = g.shape[0]
    return numpy.array([[(g * d[i:i + k, j:j + k]).sum() for j in range(d.shape[1] - k + 1)]
                        for i in range(d.shape[0] - k + 1)])


def winograd_1d(rng, rows):
    print("part 1: Winograd's minimal filtering. Two outputs of a 3-tap filter g over four inputs d:")
    print("  y0 = d0 g0 + d1 g1 + d2 g2,  y1 = d1 g0 + d2 g1 + d3 g2          6 multiplications")
    print("  m1 = (d0 − d2) g0           m2 = (d1 + d2) (g0 + g1 + g2)/2")
    print("  m3 = (d2 − d1) (g0 − g1 + g2)/2,  m4 = (d1 − d3) g2")
    print("  y0 = m1 + m2 + m3,  y1 = m2 − m3 − m4                            4 multiplications")
    print("  (expand y0: the g1 terms of m2 and m3 give d1 g1, the g0, g2 terms give d2 g0 + d2 g2, and m1")
    print("  trades d2 g0 for d0 g0.) The g factors depend on the filter only: computed once per filter.")
    # the four factors' coefficients, read off the formulas above
    B_T = numpy.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])       # m_k's d-part
    G = numpy.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])             # m_k's g-part
    A_T = numpy.array([[1, 1, 1, 0], [0, 1, -1, -1]])                                      # y from the m's
    print("  so y = Aᵀ [(G g) ∘ (Bᵀ d)] with the rows of")
    for name, matrix in (("Bᵀ", B_T), ("G", G), ("Aᵀ", A_T)):
        print(f"  {name:<3}" + "  ".join("(" + " ".join(f"{v:g}" for v in row) + ")" for row in matrix))
    d, g = rng.normal(size=4), rng.normal(size=3)
    rows.append(("F(2,3) vs direct correlation", A_T @ ((G @ g) * (B_T @ d)), numpy.correlate(d, g, "valid"),
                 1e-12))
    rows.append(("Bᵀ, G, Aᵀ vs fast/winograd.py", numpy.concatenate([B_T.ravel(), G.ravel(), A_T.ravel()]),
                 numpy.concatenate([numpy.ravel(winograd.B_T), numpy.ravel(winograd.G), numpy.ravel(winograd.A_T)]),
                 0.0))
    return B_T, G, A_T


def winograd_2d(rng, rows, B_T, G, A_T):
    d, g = rng.normal(size=(4, 4)), rng.normal(size=(3, 3))
    U, V = G @ g @ G.T, B_T @ d @ B_T.T
    Y = A_T @ (U * V) @ A_T.T
    print("\nF(2×2, 3×3): apply F(2,3) along the rows, then along the columns, of one 4×4 tile d:")
    print("  Y = Aᵀ [ (G g Gᵀ) ∘ (Bᵀ d B) ] A:  a 2×2 block of output from 16 products (direct: 4 × 9 = 36)")
    print("  Y =\n  " + numpy.array2string(Y, precision=6, prefix="  "))
    print("  direct correlation of the tile =\n  " + numpy.array2string(correlate(d, g), precision=6, prefix="  "))
    rows.append(("F(2×2,3×3) tile vs direct", Y, correlate(d, g), 1e-12))
    x, weight = rng.normal(size=(1, 3, 9, 8)), rng.normal(size=(4, 3, 3, 3))
    fast = winograd.convolve(x, winograd.filters(weight))
    reference = ops.conv2d(Tensor(x), Tensor(weight), padding=1).data
    print("a whole image: 4×4 tiles stepping by 2, summed over input channels the 16 products become 16\n"
          "matrix products; Bᵀ and Aᵀ hold only 0 and ±1, so the transforms are additions (fast/winograd.py).")
    rows.append(("Winograd conv vs im2col conv", fast, reference, 1e-12))


# --------------------------------------------------------------------------- part 2: batch-norm folding
def folding(rng, rows):
    print("\npart 2: batch norm folded into the convolution before it. In eval mode batch norm is affine:")
    print("  bn(z) = γ (z − μ)/√(σ² + ε) + β = s ∘ z + t,  s = γ/√(σ² + ε),  t = β − μ s")
    print("  so bn(conv(x, W) + b) = conv(x, s·W) + (t + s·b): one op instead of two, the same values")
    conv, bn = Conv2d(3, 4, 3, padding=1, bias=True, rng=rng), BatchNorm2d(4)
    conv.weight.data, conv.bias.data = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    bn.weight.data, bn.bias.data = rng.uniform(0.5, 1.5, 4), rng.normal(size=4)
    bn.running_mean, bn.running_var = rng.normal(size=4), rng.uniform(0.5, 1.5, 4)
    x = rng.normal(size=(2, 3, 6, 5))
    s = bn.weight.data / numpy.sqrt(bn.running_var + bn.eps)
    t = bn.bias.data - bn.running_mean * s
    by_hand = ops.conv2d(Tensor(x), Tensor(conv.weight.data * s[:, None, None, None]), Tensor(t + s * conv.bias.data),
                         padding=1).data
    two_ops = bn(conv(Tensor(x))).data
    weight, bias = fold_conv_bn(conv, bn)
    rows.append(("folded (by hand) vs conv then bn", by_hand, two_ops, 1e-12))
    rows.append(("fold_conv_bn vs by hand", numpy.concatenate([weight.ravel(), bias]),
                 numpy.concatenate([(conv.weight.data * s[:, None, None, None]).ravel(), t + s * conv.bias.data]),
                 1e-15))
    print("  valid only while the weights cannot change: the fast path folds only a frozen model\n"
          "  (model.freeze()), and drops the folded copy when training or loading may change them.")


# --------------------------------------------------------------------------- part 3: the whole network
def explain_pass(model, x):
    """Forward, then guided backward of the top logit to the pixels: the image side of eq. 2."""
    image = Tensor(x, requires_grad=True)
    logits = model(image)
    seed = numpy.zeros(logits.shape, dtype=x.dtype)
    seed[0, int(logits.data.argmax())] = 1
    with guided_backprop():
        logits.backward(seed)
    return logits.data, image.grad


def timed(model, x, runs):
    """{path: (median wall seconds, median CPU seconds, (logits, gradient))}, the two paths taking turns so
    that a busy machine slows both alike; a warm-up first (the frozen convolutions fold themselves there)."""
    times, results = {"reference": [], "fast": []}, {}
    for _ in range(runs + 1):
        for path in times:
            with hm.fast(path == "fast"):
                wall, cpu = time.perf_counter(), time.process_time()
                results[path] = explain_pass(model, x)
                times[path].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {path: (*numpy.median(t[1:], axis=0), results[path]) for path, t in times.items()}


def relative(a, b):
    return float(numpy.abs(a - b).max() / numpy.abs(b).max())


def winograd_share(model, size):
    """The shares of multiply-adds in the 3×3 stride-1 convolutions, those Winograd takes, from the conv shapes:
    (F(4×4, 3×3): at most 128 input channels, F(2×2, 3×3): more), as ``winograd.output_tile`` picks on a CPU."""
    def side(h, stride):                                  # output side of a 1×1, or padded 3×3, convolution
        return (h - 1) // stride + 1

    stem = side(size, 2)
    macs = {4: 0, 2: 0, None: model.conv1.weight.size * stem * stem}
    h = side(stem, 2)                                     # after the 3×3/2 max-pool
    for block in model.blocks():
        h2 = side(h, block.conv2.stride)
        convs = [(block.conv1, h), (block.conv2, h2), (block.conv3, h2)]
        convs += [(block.downsample[0], h2)] if block.downsample is not None else []
        for conv, out in convs:
            winograd = conv.kernel_size == 3 and conv.stride == 1
            tile = winograd_tile(conv.weight.shape[1], fused=False) if winograd else None
            macs[tile] += conv.weight.size * out * out
        h = h2
    total = sum(macs.values())
    return macs[4] / total, macs[2] / total


def whole_network(layers, size, runs, rows):
    name = {(3, 4, 6, 3): "ResNet-50", (3, 8, 36, 3): "ResNet-152"}[layers]
    print(f"\npart 3: {name} at {size}×{size}, the explain pass (forward + guided backward), "
          f"median of {runs} runs after a warm-up")
    rng = numpy.random.default_rng(0)
    model = ResNet(layers, rng=rng)
    calibrate_batchnorm(model, rng.standard_normal((2, 3, size, size)).astype(numpy.float32))
    model.freeze()                                       # eval, no parameter gradients: folding may happen
    x = rng.standard_normal((1, 3, size, size)).astype(numpy.float32)
    _lesson.predict("how much faster is the fast path, and how far apart are the two answers?")
    timings = timed(model, x, runs)
    results = {path: result for path, (_, _, result) in timings.items()}
    for path, (wall, cpu, _) in timings.items():
        print(f"  {path:<9} {wall:7.3f} s, CPU {cpu:7.3f} s   (inside with hm.fast({path == 'fast'}):)")
    share4, share2 = winograd_share(model, size)
    wall, cpu = (timings["reference"][k] / timings["fast"][k] for k in (0, 1))
    bound = 1 / (1 - share4 - share2 + share4 / 4 + share2 / 2.25)
    print(f"  speed-up {wall:.2f}× in time, {cpu:.2f}× in CPU seconds (the fairer measure on a busy machine).\n"
          f"  On a CPU the 3×3 stride-1 convolutions run as Winograd F(4×4, 3×3) up to 128 input channels (36\n"
          f"  products per 16 outputs: 4× fewer multiplications; here {share4:.0%} of the multiply-adds) and as the\n"
          f"  F(2×2, 3×3) of part 1 above (2.25× fewer; here {share2:.0%}), whose filters would take too much\n"
          f"  memory at 36 components. At best 1/(1 − {share4:.2f} − {share2:.2f} + {share4:.2f}/4 + {share2:.2f}/2.25)"
          f" = {bound:.2f}× from them;\n  folding saves a pass per batch norm. Small images gain less (each op has "
          f"a fixed cost).\n")

    state = model.state_dict()                           # the same network in float64: the yardstick
    model64 = ResNet(layers, rng=numpy.random.default_rng(1))
    model64.load_state_dict(state).astype(numpy.float64).freeze()
    exact = {}
    for path, flag in (("reference", False), ("fast", True)):
        with hm.fast(flag):
            exact[path] = explain_pass(model64, x.astype(numpy.float64))
    print("  the two paths compute the same math: in float64 they agree to rounding; in float32 each is\n"
          "  judged against the float64 reference (float32 rounding grows through the layers).")
    for k, what in enumerate(("logits", "∂/∂pixels")):
        rows.append((f"{what}: fast vs reference, float64 (rel)", relative(exact["fast"][k], exact["reference"][k]),
                     0.0, 1e-10))
        for path in ("reference", "fast"):
            error = relative(results[path][k], exact["reference"][k])
            rows.append((f"{what}: {path} float32 vs float64 (rel)", error, 0.0, 1e-3 if k == 0 else 1e-2))


def main(argv=None):
    parser = _lesson.parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="ResNet-50 at 112×112 instead of ResNet-152 at 448")
    args = parser.parse_args(argv)
    _lesson.start(__doc__)
    print("This lesson runs both paths side by side: each timing below says which (with hm.fast(True/False)).")
    rng = numpy.random.default_rng(9)
    rows = []
    B_T, G, A_T = winograd_1d(rng, rows)
    winograd_2d(rng, rows, B_T, G, A_T)
    folding(rng, rows)
    if args.quick:
        whole_network((3, 4, 6, 3), 112, 2, rows)
    else:
        whole_network((3, 8, 36, 3), 448, 3, rows)
    print(f"\n{'comparison':<46} {'max |difference|':>17}  allowed")
    for name, ours, reference, allowed in rows:
        error = float(numpy.abs(numpy.asarray(ours) - numpy.asarray(reference)).max())
        print(f"{name:<46} {error:17.3e}  {allowed:g}")
        if error > allowed:
            raise SystemExit(f"unexpected result for {name!r}: {error:.3e}")


if __name__ == "__main__":
    main()
