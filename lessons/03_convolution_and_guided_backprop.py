"""Lesson 3: convolution as im2col + matmul, max pooling, and why guided backprop is not a gradient.

Part 1. A convolution slides a kh×kw filter over the image. *im2col* (``hadamard_min/ops/conv.py``, used
here as the engine uses it) copies every window into one column of a matrix, so all outputs come out of a
single matrix product:

    cols[(c,i,j), (y,x)] = xpad[c, s·y + i, s·x + j],      y = W.reshape(O, C·kh·kw) @ cols.

Its backward is two more matrix products and *col2im*, which adds each column back where it came
from (a pixel covered by several windows collects several contributions).

A word on the name: this sum reads x[y + i, x + j], the filter laid on the image as it is. Mathematics
calls that *cross-correlation*; a convolution proper flips the filter and reads x[y − i, x − j]. Deep
learning (PyTorch's ``conv2d``, this package's ``Conv2d``) says "convolution" for the cross-correlation,
and so do these lessons: a learned filter does not care, it is learned already flipped.

Part 1b. Max pooling (ResNet's stem, and exercise 6): each output is the largest value of its window, and
its backward routes dy to the one pixel that won, nowhere else.

Part 2. Guided backprop (Springenberg et al. 2015) changes ReLU's backward from dy·[x > 0] to
dy·[x > 0]·[dy > 0]: negative signals are dropped at every ReLU. The result is a sharper picture but
the derivative of nothing, so finite differences, which measure the true gradient, disagree with it;
the only check for guided backprop is its closed-form rule.
Run:  python lessons/03_convolution_and_guided_backprop.py
(after ``pip install -e .``, or with ``PYTHONPATH=.``).
"""
import _lesson
import numpy

from hadamard_min import Tensor, guided_backprop, ops
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.ops.conv import col2im, im2col, output_size


def convolve_by_definition(x, w):
    """y[o, y, x] = Σ_{c,i,j} w[o,c,i,j] · x[c, y+i, x+j]: the sum, written out."""
    o, _, kh, kw = w.shape
    out = numpy.zeros((o, x.shape[1] - kh + 1, x.shape[2] - kw + 1))
    for k in range(o):
        for y in range(out.shape[1]):
            for x_ in range(out.shape[2]):
                out[k, y, x_] = (w[k] * x[:, y:y + kh, x_:x_ + kw]).sum()
    return out


def convolution(rng, rows):
    image = numpy.arange(16, dtype=float).reshape(1, 4, 4)
    kernel = rng.integers(-2, 3, size=(1, 1, 3, 3)).astype(float)
    print("a 1×4×4 image and a 3×3 filter:")
    print("  " + numpy.array2string(image[0], prefix="  "))
    print("  filter row W.reshape(1, 9) = " + numpy.array2string(kernel.ravel()))
    out_h = out_w = output_size(4, 3, stride=1, padding=0)
    # the engine's own im2col (hadamard_min/ops/conv.py): (N, C, kh, kw, Ho, Wo), one copy per offset (i, j)
    cols = im2col(image[None], 3, 3, 1, 0, out_h, out_w).reshape(1 * 3 * 3, out_h * out_w)
    n_rows, n_columns = cols.shape
    print(f"\nim2col: {n_rows} rows (channel × 3 × 3) by {n_columns} columns (one per output pixel):")
    print("  " + numpy.array2string(cols, prefix="  "))
    by_matmul = (kernel.reshape(1, -1) @ cols).reshape(1, out_h, out_w)
    engine = ops.conv2d(Tensor(image[None]), Tensor(kernel)).data[0]
    print("W @ cols, reshaped to 2×2, is the convolution (strictly the cross-correlation: the filter is not flipped):")
    print("  " + numpy.array2string(by_matmul[0], prefix="  "))
    rows.append(("conv: W @ cols vs loops", by_matmul, convolve_by_definition(image, kernel)))
    rows.append(("conv: engine vs W @ cols", engine, by_matmul))

    x = Tensor(image[None], requires_grad=True)
    ops.conv2d(x, Tensor(numpy.ones_like(kernel))).backward(numpy.ones((1, 1, out_h, out_w)))
    counts = col2im(numpy.ones((1, 1, 3, 3, out_h, out_w)), (1, 1, 4, 4), 3, 3, 1, 0)
    print("\ncol2im in the backward: with W = 1 and dy = 1, ∂L/∂x counts the windows over each pixel:")
    print("  " + numpy.array2string(x.grad[0, 0], prefix="  "))
    rows.append(("col2im(ones) vs engine ∂L/∂x", counts, x.grad))
    c = rng.normal(size=(1, 1, 3, 3, out_h, out_w))
    adjoint = ((im2col(image[None], 3, 3, 1, 0, out_h, out_w) * c).sum(), (image[None] * col2im(
        c, (1, 1, 4, 4), 3, 3, 1, 0)).sum())
    print(f"col2im is im2col's adjoint: ⟨im2col(x), c⟩ = {adjoint[0]:.6f} = ⟨x, col2im(c)⟩ = {adjoint[1]:.6f}")
    rows.append(("<im2col x, c> vs <x, col2im c>", adjoint[0], adjoint[1]))

    print("\nconv2d backward against central differences (2 channels → 3, 3×3, stride 2, padding 1):")
    report = gradcheck(lambda a, b: ops.conv2d(a, b, stride=2, padding=1),
                       rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3)))
    print(report)
    for check in report.checks:
        rows.append((f"conv backward input {check.index}", check.max_abs_error, 0.0))


def max_pool(rng, rows):
    x = rng.permutation(16).astype(float).reshape(1, 1, 4, 4)   # distinct values: no ties, one winner each
    print("\npart 1b: max pooling, 2×2 windows, stride 2, on")
    print("  " + numpy.array2string(x[0, 0], prefix="  "))
    xt = Tensor(x, requires_grad=True)
    y = ops.max_pool2d(xt, 2)
    print("  y = the largest value of each window:\n  " + numpy.array2string(y.data[0, 0], prefix="  "))
    _lesson.predict("with dy = [[1, 2], [3, 4]], which pixels of ∂L/∂x are not zero, and what do they hold?")
    dy = numpy.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    y.backward(dy)
    print("  ∂L/∂x: each window's dy lands on its maximum, zero elsewhere:\n  "
          + numpy.array2string(xt.grad[0, 0], prefix="  "))
    by_hand = numpy.zeros_like(x)
    for wy in range(2):
        for wx in range(2):
            window = x[0, 0, 2 * wy:2 * wy + 2, 2 * wx:2 * wx + 2]
            i, j = numpy.unravel_index(window.argmax(), window.shape)
            by_hand[0, 0, 2 * wy + i, 2 * wx + j] += dy[0, 0, wy, wx]
    rows.append(("max-pool ∂L/∂x vs routed by hand", xt.grad, by_hand))
    report = gradcheck(lambda a: ops.max_pool2d(a, 3, stride=2, padding=1), rng.normal(size=(1, 2, 5, 6)))
    print("  against central differences (3×3 windows, stride 2, padding 1, 5×6: overlapping, H ≠ W):\n"
          + str(report))
    rows.append(("max-pool backward", report.checks[0].max_abs_error, 0.0))


def toy_network(x, w1, w2, v):
    """y = v · relu(W₂ relu(W₁ x)): two ReLU layers and a scalar output."""
    return ops.linear(ops.relu(ops.linear(ops.relu(ops.linear(x, w1)), w2)), v).sum()


def guided_by_hand(x, w1, w2, v):
    """The guided rule dx = dy·[x > 0]·[dy > 0] applied at each ReLU, from the output back."""
    z1 = x @ w1.T
    z2 = numpy.maximum(z1, 0) @ w2.T
    g = v.copy()                         # ∂y/∂h₂
    g = g * (z2 > 0) * (g > 0)           # through the second ReLU
    g = g @ w2                           # through W₂
    g = g * (z1 > 0) * (g > 0)           # through the first ReLU
    return g @ w1                        # through W₁


def central_differences(fn, x, h=1e-6):
    grad = numpy.zeros_like(x)
    for k in range(x.size):
        step = numpy.zeros_like(x)
        step.flat[k] = h
        grad.flat[k] = (fn(x + step) - fn(x - step)) / (2 * h)
    return grad


def guided(rng, rows):
    x = rng.normal(size=(1, 4))
    w1, w2, v = rng.normal(size=(6, 4)), rng.normal(size=(5, 6)), rng.normal(size=(1, 5))
    constants = [Tensor(a) for a in (w1, w2, v)]

    def y_of(values):
        return toy_network(Tensor(values), *constants).item()

    numeric = central_differences(y_of, x)
    plain = Tensor(x, requires_grad=True)
    toy_network(plain, *constants).backward()
    guided_x = Tensor(x, requires_grad=True)
    with guided_backprop():
        toy_network(guided_x, *constants).backward()
    by_hand = guided_by_hand(x, w1, w2, v)

    print("\na toy net y = v · relu(W₂ relu(W₁ x)), x in R⁴; ∂y/∂x four ways:")
    print(f"  {'x_k':<4} {'finite diff':>12} {'gradient':>12} {'guided':>12} {'guided by hand':>15}")
    for k in range(4):
        print(f"  {k:<4} {numeric[0, k]:12.6f} {plain.grad[0, k]:12.6f} {guided_x.grad[0, k]:12.6f} "
              f"{by_hand[0, k]:15.6f}")
    print("the plain gradient matches finite differences; guided backprop does not, yet it follows its rule.")
    rows.append(("gradient vs finite diff", plain.grad, numeric))
    rows.append(("guided vs its rule", guided_x.grad, by_hand))
    rows.append(("guided vs finite diff", guided_x.grad, numeric))


def main(argv=None):
    _lesson.parser(__doc__).parse_args(argv)  # no options: an unknown one is refused, not ignored
    _lesson.start(__doc__)
    rng = numpy.random.default_rng(3)
    rows = []
    convolution(rng, rows)
    max_pool(rng, rows)
    guided(rng, rows)

    print(f"\n{'comparison':<33} {'max |difference|':>17}  expected")
    for name, ours, reference in rows:
        error = float(numpy.abs(numpy.asarray(ours) - numpy.asarray(reference)).max())
        should_differ = name == "guided vs finite diff"
        print(f"{name:<33} {error:17.3e}  {'large: not a gradient' if should_differ else 'tiny'}")
        if should_differ == (error < 1e-6):
            raise SystemExit(f"unexpected result for {name!r}: {error:.3e}")


if __name__ == "__main__":
    main()
