"""Exercise 9: MLB, the model the paper explains, eq. 4-8, with the engine's ops.

Inputs: the question vector ``question`` (B, N) (the bold **q** of the paper: the GRU's last state, not the
word vectors) and the feature grid ``features`` (B, M, S, S) (the bold **F** of eq. 4; not the Hadamard
output F of eq. 6, which is why the code calls the grid ``features``). σ is tanh; every map has a bias.

    grid = the S² feature vectors as rows: reshape to (B, M, S²), transpose to (B, S², M)
    eq. 4  α = softmax over the S² locations of  P_αᵀ( σ(U_qᵀ q · 1ᵀ) ∘ σ(V_Fᵀ grid) )
              U_q = mlb.linear_q_att, V_F = mlb.conv_v_att, P_α = mlb.conv_att; scores (B, S², G),
              softmax along axis 1, then transpose to (B, G, S²)
    eq. 5  v̂_g = Σ_s α_{g,s} grid_s                         (B, G, M): one matmul
    eq. 6  Q = σ(W_qᵀ q) (mlb.linear_q_fusion),  V = ‖_g σ(V_{v,g}ᵀ v̂_g) (mlb.list_linear_v_fusion[g],
           concatenated along axis 1),  F = Q ∘ V
    eq. 7  logits = P_oᵀ F (mlb.linear_classif); eq. 8 takes their argmax

Return (alpha reshaped to (B, G, S, S), Q, V, F, logits). The model is in eval mode: no dropout.
Useful: ops.tanh, ops.reshape, ops.transpose, ops.softmax(x, axis), ops.matmul, ops.concatenate, x[:, g].

Check:  python -m pytest lessons/exercises/test_ex09_mlb.py
"""
from hadamard_min import ops  # noqa: F401  (the ops you will need)


def mlb_forward(mlb, question, features):
    """(alpha (B, G, S, S), Q, V, F, logits) of eq. 4-7, as Tensors."""
    raise NotImplementedError("exercise 9: mlb_forward — the grid, eq. 4 (α), eq. 5 (v̂), eq. 6 (Q, V, F), "
                              "eq. 7 (logits)")
