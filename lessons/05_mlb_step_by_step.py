"""Lesson 5: MLB, the VQA model the paper explains, one equation at a time (eq. 4-8).

A toy: one question vector **q** (N numbers) and a feature grid **F** of S×S locations with M channels each.
Every step of MLB is run by hand with the engine's ops, printing the shape of each tensor; then the
hand-made result is checked against the ``MLB`` module, every attention map must sum to one, and
F must be exactly Q ∘ V.

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
import numpy

from hadamard_min import Tensor, ops
from hadamard_min.models.mlb import MLB

N, M, S, A, J, G, K = 8, 6, 3, 5, 4, 2, 5   # question, visual, grid side, attention, joint, glimpses, answers


def show(name, tensor, note):
    print(f"  {name:<11} {tensor.shape!s:<13} {note}")


def by_hand(mlb, question, features):
    """eq. 4-7 step by step; returns the tensors to compare with the module's output."""
    print("inputs")
    show("question", question, "bold q: the question vector (the GRU's last state)")
    show("features", features, "bold F: the feature grid, M channels at S×S locations")

    print("\neq. 4  α = softmax(P_αᵀ (σ(U_qᵀ q · 1ᵀ) ∘ σ(V_Fᵀ Fᵀ)))")
    grid = ops.transpose(ops.reshape(features, (1, M, S * S)), (0, 2, 1))
    show("grid", grid, "the grid as S² row vectors F_s")
    q_att = ops.tanh(mlb.linear_q_att(question))
    show("σ(U_qᵀ q)", q_att, "question side (linear_q_att, tanh)")
    v_att = ops.tanh(mlb.conv_v_att(grid))
    show("σ(V_Fᵀ Fᵀ)", v_att, "image side: a 1×1 conv is one linear map per location (conv_v_att)")
    joint = v_att * ops.reshape(q_att, (1, 1, A))
    show("product", joint, "the question side replicated over the S² locations (· 1ᵀ), then ∘")
    scores = mlb.conv_att(joint)
    show("P_αᵀ(…)", scores, "a score per location and glimpse (conv_att, no tanh before it)")
    alpha = ops.transpose(ops.softmax(scores, axis=1), (0, 2, 1))
    show("α", alpha, "softmax over the S² locations: one distribution per glimpse")

    print("\neq. 5  v̂ = ‖_g Σ_s α_{g,s} F_s")
    attended = ops.matmul(alpha, grid)
    show("v̂", attended, "G weighted sums of the raw features")

    print("\neq. 6  Q = σ(W_qᵀ q),  V = ‖_g σ(V_{v,g}ᵀ v̂_g),  F = Q ∘ V")
    V = ops.concatenate([ops.tanh(mlb.list_linear_v_fusion[g](attended[:, g])) for g in range(G)], axis=1)
    show("V", V, "visual input of the Hadamard product (one linear map per glimpse, concatenated)")
    Q = ops.tanh(mlb.linear_q_fusion(question))
    show("Q", Q, "textual input of the Hadamard product")
    F = Q * V
    show("F", F, "the Hadamard product, the joint representation (not the grid)")

    print("\neq. 7-8  p(a | q, F) = softmax(P_oᵀ F),  â = argmax_a p")
    logits = mlb.linear_classif(F)
    show("P_oᵀ F", logits, "a score per answer")
    p = ops.softmax(logits, axis=1).numpy()[0]
    print(f"  p = {numpy.round(p, 3)},  â = answer #{int(p.argmax())}")
    return alpha, Q, V, logits


def low_rank_bilinear(rng):
    x, y = rng.standard_normal(N), rng.standard_normal(M)
    U, V, p = rng.standard_normal((N, J)), rng.standard_normal((M, J)), rng.standard_normal(J)
    hadamard = p @ ((U.T @ x) * (V.T @ y))        # J products
    bilinear = x @ (U @ numpy.diag(p) @ V.T) @ y   # the N×M matrix of rank ≤ J, built explicitly
    rank = numpy.linalg.matrix_rank(U @ numpy.diag(p) @ V.T)
    print(f"\nlow-rank bilinear pooling: pᵀ(Uᵀx ∘ Vᵀy) = {hadamard:.6f},  xᵀ(U diag(p) Vᵀ)y = {bilinear:.6f}"
          f"  (an {N}×{M} matrix of rank {rank})")
    return hadamard, bilinear


def main():
    rng = numpy.random.default_rng(0)
    mlb = MLB(N, M, J, G, K, attention_dim=A, rng=rng).eval()   # eval: no dropout
    question = Tensor(rng.standard_normal((1, N)).astype(numpy.float32))
    features = Tensor(rng.standard_normal((1, M, S, S)).astype(numpy.float32))
    alpha, Q, V, logits = by_hand(mlb, question, features)
    out = mlb(question, features)
    hadamard, bilinear = low_rank_bilinear(rng)

    rows = [("α: by hand vs MLB", alpha.numpy().reshape(out.alpha.shape), out.alpha.numpy(), 1e-6),
            ("Q: by hand vs MLB", Q.numpy(), out.Q.numpy(), 1e-6),
            ("V: by hand vs MLB", V.numpy(), out.V.numpy(), 1e-6),
            ("logits: by hand vs MLB", logits.numpy(), out.logits.numpy(), 1e-6),
            ("Σ_s α_{g,s} vs 1", out.alpha.numpy().sum(axis=(2, 3)), numpy.ones((1, G)), 1e-6),
            ("F vs Q ∘ V (exact)", out.F.numpy(), out.Q.numpy() * out.V.numpy(), 0.0),
            ("Hadamard vs bilinear form", hadamard, bilinear, 1e-9)]
    print(f"\n{'comparison':<28} {'max |difference|':>17}  {'allowed':>8}")
    for name, ours, reference, allowed in rows:
        error = float(numpy.abs(numpy.asarray(ours) - numpy.asarray(reference)).max())
        print(f"{name:<28} {error:17.3e}  {allowed:8.0e}")
        if error > allowed:
            raise SystemExit(f"unexpected result for {name!r}: {error:.3e}")


if __name__ == "__main__":
    main()
