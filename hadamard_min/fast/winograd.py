"""Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray 2016): a 3×3, stride-1, padding-1 convolution with
(m+2)² multiplications per m×m output tile instead of 9m²: F(2×2, 3×3) 16 for 4 outputs (2.25× fewer),
F(4×4, 3×3) 36 for 16 (4× fewer).

F(2×2, 3×3). Cut the padded input into 4×4 tiles d that step by 2. For filter g (3×3) and each tile,

    Y = Aᵀ [ (G g Gᵀ) ∘ (Bᵀ d B) ] A            (a 2×2 block of the output)

and summed over input channels the 16 Hadamard products become 16 matrix products:
M[ξ] = U[ξ] @ V[ξ] with U[ξ] = (G g Gᵀ)[ξ] of shape (O, C) and V[ξ] = (Bᵀ d B)[ξ] of shape (C, tiles),
2.25× fewer multiply-adds than im2col. Bᵀ and Aᵀ hold only 0 and ±1, so the transforms are
additions of strided views.

Backward to the input is the same algorithm on dy: dx is the convolution of dy with every filter
turned by 180° and (O, C) swapped. Turning g is g ↦ J g J (J reverses 3 entries), and G J = P G where P
swaps the first and last of 4 entries, so that filter's transform is P U P: the same U, its 16 components
ξ = (a, b) renumbered by P on both indices and each U[ξ] transposed. Renumbering the components is the
same as using P Bᵀ for Bᵀ and Aᵀ P for Aᵀ:

    dx = outputs(U[ξ]ᵀ @ inputs(dy; P Bᵀ); Aᵀ P).

F(4×4, 3×3) on the CPU (``output_tile`` picks it for maps of at most 128 channels, whose filters are small).
The 6×6 tiles step by 4 and Bᵀ, G, Aᵀ hold 1/4, 1/6, 2, 4, 5, 8, so the transforms are matrix products:
every tile's 36 values gathered as one column of D (36, tiles), V = (Bᵀ ⊗ Bᵀ) D and Y = (Aᵀ ⊗ Aᵀ) M, each
one SGEMM, and the bias b rides along as a 37th row of M times a column of ones (the rows of Aᵀ ⊗ Aᵀ do not
sum to one, so it cannot be folded into one component). With Numba the two transforms are instead one pass
each, a tile's rows and then its columns (``cpu_winograd.py``), 3 to 5 terms a value rather than 36. Turning
g maps the points 0, ±1, ±2 of this transform to others, so the backward keeps the transform of the turned
filters, U′, as well.
"""
import numpy

from hadamard_min.core.backend import array_module
from hadamard_min.core.function import Function
from hadamard_min.fast import compiled
from hadamard_min.fast import cuda_kernels as kernels

B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))      # Bᵀ: 4×4 input tile
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))          # G: 3×3 filter → 4×4
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))                                     # Aᵀ: 4×4 → 2×2 output tile
TURN = (3, 1, 2, 0)                                                      # P: swap entries 0 and 3
B_T_TURNED = tuple(B_T[k] for k in TURN)                                 # P Bᵀ
A_T_TURNED = tuple(tuple(row[k] for k in TURN) for row in A_T)           # Aᵀ P

B_T4 = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),  # F(4×4, 3×3): points 0, ±1, ±2, ∞
        (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
G4 = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
      (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
A_T4 = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
FILTER_TRANSFORMS = {2: G, 4: G4}


def _combine(row, parts, out):
    """out = Σ_k row[k] · parts[k] for a row of 0, +1 and −1 (a row of Bᵀ or Aᵀ), written into ``out``.

    Computed as sign · (first ± the others) with ``sign`` the first coefficient, positive ones first.
    """
    xp = array_module(out)
    terms = sorted(((c, p) for c, p in zip(row, parts) if c), key=lambda term: term[0] < 0)
    (sign, first), rest = terms[0], terms[1:]
    if not rest:
        if sign > 0:
            xp.copyto(out, first)
        else:
            xp.negative(first, out=out)
        return out
    (xp.add if rest[0][0] == sign else xp.subtract)(first, rest[0][1], out=out)
    for c, part in rest[1:]:
        (xp.add if c == sign else xp.subtract)(out, part, out=out)
    if sign < 0:
        xp.negative(out, out=out)
    return out


def output_tile(channels, fused):
    """m of the F(m×m, 3×3) that runs a convolution of ``channels`` inputs: 4 on the CPU up to 128 channels
    (U′ then costs little memory), else 2; always 2 where the fused GPU kernels run (``fused``)."""
    return 4 if channels <= 128 and not fused else 2


def _tiles(size):
    return (size + 1) // 2


def filters(weight, tile=2):
    """U = G g Gᵀ for each (o, c): (O, C, 3, 3) → ((m+2)², O, C), one product with G ⊗ G, in float64."""
    xp = array_module(weight)
    o, c = weight.shape[:2]
    g = xp.asarray(FILTER_TRANSFORMS[tile], dtype=numpy.float64)
    u = xp.kron(g, g) @ weight.reshape(o * c, 9).T.astype(numpy.float64)
    return u.astype(weight.dtype).reshape(len(g) ** 2, o, c)


def turned_filters(weight, tile=2):
    """U′: the transform of the filters turned by 180° with (O, C) swapped, ((m+2)², C, O)."""
    return filters(array_module(weight).ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)), tile)


def inputs(x, b_t=B_T):
    """V = Bᵀ d B for each 4×4 tile d of x padded by 1 (tiles step by 2): (N, C, H, W) → (16, N, C, tiles).

    On a GPU: one kernel (``kernels.winograd_inputs``), one tile a thread; on the CPU with Numba one pass.
    """
    if kernels.fused(x):
        return kernels.winograd_inputs(x, b_t)
    if cpu := compiled.cpu(x):
        return cpu.winograd_inputs(x, turned=b_t == B_T_TURNED)
    xp = array_module(x)
    n, c, h, w = x.shape
    th, tw = _tiles(h), _tiles(w)
    xpad = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    xpad[:, :, 1:1 + h, 1:1 + w] = x
    t = xp.empty((4, n, c, th, 2 * tw + 2), dtype=x.dtype)          # Bᵀ d: rows combined
    for a in range(4):
        _combine(b_t[a], [xpad[:, :, r:r + 2 * th:2] for r in range(4)], t[a])
    v = xp.empty((4, 4, n, c, th, tw), dtype=x.dtype)               # (Bᵀ d) B: then columns
    for b in range(4):
        _combine(b_t[b], [t[..., k:k + 2 * tw:2] for k in range(4)], v[:, b])
    return v.reshape(16, n, c, th * tw)


def outputs(m, h, w, a_t=A_T):
    """Y = Aᵀ M A per tile, the 2×2 blocks put side by side and cropped: (16, N, O, tiles) → (N, O, h, w).

    On a GPU: one kernel (``kernels.winograd_outputs``), one tile a thread; on the CPU with Numba one pass.
    """
    if kernels.fused(m):
        return kernels.winograd_outputs(m, h, w, a_t)
    if cpu := compiled.cpu(m):
        return cpu.winograd_outputs(m, h, w, turned=a_t == A_T_TURNED)
    xp = array_module(m)
    _, n, o, _ = m.shape
    th, tw = _tiles(h), _tiles(w)
    m = m.reshape(4, 4, n, o, th, tw)
    r = xp.empty((2, 4, n, o, th, tw), dtype=m.dtype)               # Aᵀ M
    for i in range(2):
        _combine(a_t[i], m, r[i])
    y = xp.empty((n, o, th, 2, tw, 2), dtype=m.dtype)               # y[n, o, 2·ty + i, 2·tx + j]
    for j in range(2):                                                # (Aᵀ M) A
        _combine(a_t[j], r.transpose(1, 2, 3, 4, 0, 5), y[..., j])
    y = y.reshape(n, o, 2 * th, 2 * tw)
    return y if (2 * th, 2 * tw) == (h, w) else xp.ascontiguousarray(y[:, :, :h, :w])


def tiles_by_product(x, tile=4):
    """V = (Bᵀ ⊗ Bᵀ) D: every 6×6 tile of x padded by 1 (tiles step by 4) a column of D, (36, N, C, tiles)."""
    xp = array_module(x)
    n, c, h, w = x.shape
    th, tw, t = -(-h // tile), -(-w // tile), tile + 2
    xpad = xp.zeros((n, c, tile * th + 2, tile * tw + 2), dtype=x.dtype)
    xpad[:, :, 1:1 + h, 1:1 + w] = x
    sn, sc, sh, sw = xpad.strides
    d = xp.ascontiguousarray(
        xp.lib.stride_tricks.as_strided(xpad, (t, t, n, c, th, tw), (sh, sw, sn, sc, tile * sh, tile * sw)))
    b_t = xp.asarray(B_T4, dtype=x.dtype)
    return (xp.kron(b_t, b_t) @ d.reshape(t * t, -1)).reshape(t * t, n, c, th * tw)


def untile_by_product(m, h, w, bias=None, tile=4):
    """Y = (Aᵀ ⊗ Aᵀ) M (+ b) per tile, the 4×4 blocks put side by side and cropped: → (N, O, h, w).

    With a bias, ``m`` holds one more component than the transform, m[36], filled here with b per output
    channel (M's 37th row, against a column of ones).
    """
    xp = array_module(m)
    _, n, o, _ = m.shape
    th, tw = -(-h // tile), -(-w // tile)
    a_t = xp.asarray(A_T4, dtype=m.dtype)
    product = xp.kron(a_t, a_t)
    if bias is not None:
        m[-1] = bias.reshape(1, o, 1)
        product = xp.concatenate([product, xp.ones((len(product), 1), dtype=m.dtype)], axis=1)
    y = (product @ m.reshape(len(m), -1)).reshape(tile, tile, n, o, th, tw)
    y = xp.ascontiguousarray(y.transpose(2, 3, 4, 0, 5, 1)).reshape(n, o, tile * th, tile * tw)
    return y if (tile * th, tile * tw) == (h, w) else xp.ascontiguousarray(y[:, :, :h, :w])


def convolve(x, u, bias=None):
    """The 3×3 convolution (stride 1, padding 1) of x with the filters whose transform is ``u`` (+ bias)."""
    if len(u) == 16:
        y = outputs(u[:, None] @ inputs(x), *x.shape[2:])
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y
    xp, cpu = array_module(x), compiled.cpu(x)  # F(4×4) with Numba: each transform one factored pass
    v = cpu.winograd4_inputs(x) if cpu else tiles_by_product(x)
    m = xp.empty((len(u) + (bias is not None and not cpu),) + v.shape[1:2] + u.shape[1:2] + v.shape[3:],
                 dtype=x.dtype)
    xp.matmul(u[:, None], v, out=m[:len(u)])
    return cpu.winograd4_outputs(m, *x.shape[2:], bias) if cpu else untile_by_product(m, *x.shape[2:], bias)


def convolve_turned(dy, u, turned=None):
    """The same with every filter turned by 180° and (O, C) swapped: the input gradient of ``convolve``.

    F(2×2): from U itself (the module's docstring); F(4×4): from U′ = ``turned``.
    """
    if len(u) == 16:
        return outputs(u.transpose(0, 2, 1)[:, None] @ inputs(dy, B_T_TURNED), *dy.shape[2:], A_T_TURNED)
    if cpu := compiled.cpu(dy):
        return cpu.winograd4_outputs(turned[:, None] @ cpu.winograd4_inputs(dy), *dy.shape[2:])
    return untile_by_product(turned[:, None] @ tiles_by_product(dy), *dy.shape[2:])


class WinogradConv2d(Function):
    """y = conv3×3(x, g) + b (stride 1, padding 1) from the filters' transform U = G g Gᵀ, given once.

    forward: y = convolve(x, U) + b;   backward: dx = convolve_turned(dy, U, U′)  (the module's docstring).
    U, U′ (F(4×4) only) and b are fixed arrays of a frozen layer (``fast/frozen.py`` computes them once),
    so there is no dW.
    """

    turned = None

    def forward(self, x):
        return convolve(x, self.u, self.bias)

    def backward(self, dy):
        return (convolve_turned(dy, self.u, self.turned),)
