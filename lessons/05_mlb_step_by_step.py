"""Lesson 5: MLB, the VQA model the paper explains, eq. 4-8: the shape of every tensor, and what must hold.

A toy: one question vector **q** (N numbers) and a feature grid **F** of S×S locations with M channels each.
This lesson gives the *shape* of every tensor of eq. 4-8 and the learned map that makes it, runs the ``MLB``
module, and checks what must hold whatever the weights: every attention map sums to one, F is exactly Q ∘ V,
each output has its shape. It does not write the forward pass: that is exercise 9
(``lessons/exercises/ex09_mlb.py``), with this lesson's table beside you. Then run this lesson again with
``HADAMARD_LEARNER=DIR`` (your exercises' folder): the same checks run on your forward.

The paper reuses two letters. Bold **q** (eq. 4-6) is the question vector, the GRU's last state; the q of
eq. 3 (lesson 06) is the word vectors the GRU reads. Bold **F** (eq. 4-5) is ResNet's feature grid; the F
of eq. 6 is the Hadamard product's output. Here and in the code: ``question`` and ``features`` for the
bold ones, ``F`` only for Q ∘ V.

Last, why the Hadamard product is "low-rank bilinear pooling": with linear maps U (N×J), V (M×J)
and a readout p (J), Σ_k p_k (Uᵀx)_k (Vᵀy)_k = xᵀ (U diag(p) Vᵀ) y, a bilinear form whose N×M
matrix has rank ≤ J but is never built: J products replace N·M weights.

Run:  python lessons/05_mlb_step_by_step.py
(after ``pip install -e .``, or with ``PYTHONPATH=.``).
"""
import _lesson
import numpy

from hadamard_min import Tensor, ops
from hadamard_min.models.mlb import MLB

N, M, S, A, J, G, K = 8, 6, 3, 5, 4, 2, 5   # question, visual, grid side, attention, joint, glimpses, answers


def show(name, tensor, note):
    print(f"  {name:<11} {tensor.shape!s:<13} {note}")


def shapes(mlb, question, features, out):
    """The shape of each tensor of eq. 4-8 and the learned map that makes it (read off the weights)."""
    def made_by(name, layer):
        out_dim, in_dim = layer.weight.shape
        return f"{name}, {in_dim} → {out_dim}"

    def row(name, shape, note):
        print(f"  {name:<11} {shape!s:<13} {note}")

    print("inputs")
    show("question", question, "bold q: the question vector (the GRU's last state)")
    show("features", features, "bold F: the feature grid, M channels at S×S locations")
    print("\neq. 4  α = softmax(P_αᵀ (σ(U_qᵀ q · 1ᵀ) ∘ σ(V_Fᵀ Fᵀ)))        σ = tanh; every map has a bias")
    row("grid", (1, S * S, M), "the grid as S² row vectors F_s (a reshape, then a transpose)")
    row("σ(U_qᵀ q)", (1, A), made_by("linear_q_att", mlb.linear_q_att))
    row("σ(V_Fᵀ Fᵀ)", (1, S * S, A), made_by("conv_v_att", mlb.conv_v_att) + " at each location (a 1×1 conv)")
    row("product", (1, S * S, A), "the question side copied to every location (· 1ᵀ), then ∘")
    row("P_αᵀ(…)", (1, S * S, G), made_by("conv_att", mlb.conv_att) + ": a score per location and glimpse")
    show("α", out.alpha, "softmax over the S² locations (axis 1), one distribution per glimpse")
    print("\neq. 5  v̂ = ‖_g Σ_s α_{g,s} F_s")
    row("v̂", (1, G, M), "G weighted sums of the grid's vectors: one matmul of α (1, G, S²) and the grid")
    print("\neq. 6  Q = σ(W_qᵀ q),  V = ‖_g σ(V_{v,g}ᵀ v̂_g),  F = Q ∘ V")
    show("Q", out.Q, made_by("linear_q_fusion", mlb.linear_q_fusion) + ": the textual input of the product")
    show("V", out.V, made_by("list_linear_v_fusion[g]", mlb.list_linear_v_fusion[0]) + " per glimpse, "
         "concatenated")
    show("F", out.F, "the Hadamard product, the joint representation (not the grid)")
    print("\neq. 7-8  p(a | q, image) = softmax(P_oᵀ F),  â = argmax_a p     (F: Q ∘ V, not the grid)")
    show("P_oᵀ F", out.logits, made_by("linear_classif", mlb.linear_classif) + ": a score per answer")
    p = ops.softmax(out.logits, axis=1).numpy()[0]
    print(f"  p = {numpy.round(p, 3)},  â = answer #{int(p.argmax())}")


def low_rank_bilinear(rng):
    x, y = rng.standard_normal(N), rng.standard_normal(M)
    U, V, p = rng.standard_normal((N, J)), rng.standard_normal((M, J)), rng.standard_normal(J)
    hadamard = p @ ((U.T @ x) * (V.T @ y))        # J products
    bilinear = x @ (U @ numpy.diag(p) @ V.T) @ y   # the N×M matrix of rank ≤ J, built explicitly
    rank = numpy.linalg.matrix_rank(U @ numpy.diag(p) @ V.T)
    print(f"\nlow-rank bilinear pooling: pᵀ(Uᵀx ∘ Vᵀy) = {hadamard:.6f},  xᵀ(U diag(p) Vᵀ)y = {bilinear:.6f}"
          f"  (an {N}×{M} matrix of rank {rank})")
    return hadamard, bilinear


def main(argv=None):
    _lesson.parser(__doc__).parse_args(argv)  # no options: an unknown one is refused, not ignored
    _lesson.start(__doc__)
    rng = numpy.random.default_rng(0)
    mlb = MLB(N, M, J, G, K, attention_dim=A, rng=rng).eval()   # eval: no dropout
    question = Tensor(rng.standard_normal((1, N)).astype(numpy.float32))
    features = Tensor(rng.standard_normal((1, M, S, S)).astype(numpy.float32))
    out = mlb(question, features)
    shapes(mlb, question, features, out)
    hadamard, bilinear = low_rank_bilinear(rng)
    print("\nnow write eq. 4-7 yourself: exercise 9 (lessons/exercises/ex09_mlb.py)")

    shape = {"α": (1, G, S, S), "Q": (1, G * J), "V": (1, G * J), "F": (1, G * J), "logits": (1, K)}
    got = {"α": out.alpha, "Q": out.Q, "V": out.V, "F": out.F, "logits": out.logits}
    rows = [("outputs of a wrong shape (a count)", sum(got[k].shape != shape[k] for k in shape), 0, 0),
            ("Σ_s α_{g,s} vs 1", out.alpha.numpy().sum(axis=(2, 3)), numpy.ones((1, G)), 1e-6),
            ("min α (a probability: ≥ 0)", min(out.alpha.numpy().min(), 0.0), 0.0, 0.0),
            ("F vs Q ∘ V (exact)", out.F.numpy(), out.Q.numpy() * out.V.numpy(), 0.0),
            ("|Q|, |V| ≤ 1 (tanh): excess", max(numpy.abs(out.Q.numpy()).max(), numpy.abs(out.V.numpy()).max(),
                                               1.0) - 1.0, 0.0, 0.0),
            ("Hadamard vs bilinear form", hadamard, bilinear, 1e-9)]
    print(f"\n{'comparison':<36} {'max |difference|':>17}  {'allowed':>8}")
    for name, ours, reference, allowed in rows:
        error = float(numpy.abs(numpy.asarray(ours) - numpy.asarray(reference)).max())
        print(f"{name:<36} {error:17.3e}  {allowed:8.0e}")
        if error > allowed:
            raise SystemExit(f"unexpected result for {name!r}: {error:.3e}")


if __name__ == "__main__":
    main()
