"""Exercise 9: MLB, the model the paper explains, eq. 4-8, with the engine's ops.

Inputs: the question vector ``question`` (B, N) (the bold **q** of the paper: the GRU's last state, not the
word vectors) and the feature grid ``features`` (B, M, S, S) (the bold **F** of eq. 4-5, M channels at S×S
locations; not the Hadamard output F of eq. 6, which is why the code calls the grid ``features``). B may be
more than 1. σ is tanh. The paper's maps are modules of ``mlb``, each a linear map (with a bias) over the
last axis of its input:

    U_q  mlb.linear_q_att       V_F  mlb.conv_v_att (a 1×1 convolution: one linear map per location)
    P_α  mlb.conv_att           V_{v,g}  mlb.list_linear_v_fusion[g], g < mlb.glimpses = G
    W_q  mlb.linear_q_fusion    P_o  mlb.linear_classif

Return, as Tensors made with the engine's ops (the grader also checks gradients through them, with respect
to ``question`` and ``features``):
    alpha (B, G, S, S)    eq. 4, one attention distribution over the S² locations per glimpse
    Q, V, F (B, G·J)      eq. 6 (eq. 5 in between gives the G attended vectors v̂_g, (B, G, M))
    logits (B, K)         eq. 7 before its softmax (eq. 8 takes their argmax)
Read eq. 4-7 in the paper and write them with the ops below; the model is in eval mode (no dropout).
Lesson 05 runs the same equations step by step: write yours first, then read it to compare.
Useful: ops.tanh, ops.reshape, ops.transpose, ops.softmax(x, axis), ops.matmul, ops.concatenate, x[:, g].

Check:  hadamard-exercises grade 9      (in the folder made by ``hadamard-exercises start DIR``)
"""
from hadamard_min import ops  # noqa: F401  (the ops you will need)


def mlb_forward(mlb, question, features):
    """(alpha (B, G, S, S), Q, V, F, logits) of eq. 4-7, as Tensors."""
    raise NotImplementedError("exercise 9: write mlb_forward: (alpha, Q, V, F, logits) of eq. 4-7 from question (B, N) "
                              "and features (B, M, S, S)")
