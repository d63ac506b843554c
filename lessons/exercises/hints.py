"""The hints on the formulas, by exercise and check: the second level of a failure's message
(``--hints``, ``HADAMARD_HINTS=1``). They stay in the package, where ``grading`` reads them only when they
are asked for; ``hadamard-exercises start`` does not copy them, so the graders in a learner's folder do
not give the formulas away."""
HINTS = {
    "ex01 backward":
        "a value used twice adds (+=) both contributions, local · value.grad into each parent, and reaches its "
        "parents only once its own grad is complete: visit reversed(topological_order(root)) after root.grad = 1",
    "ex02 unbroadcast":
        "an input reused along an axis gets the sum of dy over that axis: sum over the leading axes it lacks, "
        "then, with keepdims=True, over the axes where it has 1",
    "ex03 softmax":
        "dx = y ∘ (dy − Σ_axis dy ∘ y): the Jacobian diag(y) − y yᵀ applied to dy; the sum runs along the "
        "softmax's own axis, with keepdims=True",
    "ex03 tanh":
        "dx = dy · (1 − y²), with the saved output y",
    "ex04 matmul":
        "∂L/∂a = dy @ bᵀ and ∂L/∂b = aᵀ @ dy (ᵀ: swap the last two axes), each then summed back to its input's "
        "shape with unbroadcast (batch axes broadcast on either side)",
    "ex05 col2im":
        "a pixel read by several windows collects all of their entries: start from zeros of the padded shape; for"
        " each offset (i, j), add (+=) dcols[:, :, i, j] into dxpad[:, :, i:i + s·Ho:s, j:j + s·Wo:s]; then cut "
        "the padding off",
    "ex06 maxpool":
        "each dy goes to its window's winner only: for each window position (i, j) add (+=) dy · [argmax == i·k +"
        " j] into dxpad[:, :, i:i + s·Ho:s, j:j + s·Wo:s]; a pixel that wins several overlapping windows collects"
        " all of them; cut the padding off",
    "ex07 deconvnet":
        "deconvnet passes dy where dy > 0, whatever x was: dy · [dy > 0]",
    "ex07 gradient":
        "the derivative passes dy where x > 0 and 0 elsewhere: dy · [x > 0]",
    "ex07 guided":
        "guided passes dy only where x > 0 AND dy > 0: dy · [x > 0] · [dy > 0]",
    "ex08 step":
        "dn = dh' ∘ (1 − z), dz = dh' ∘ (h − n), dh = dh' ∘ z (the direct path); through tanh da_n = dn ∘ (1 − "
        "n²), dr = da_n ∘ g, dg = da_n ∘ r; through the sigmoids da_z = dz ∘ z(1 − z), da_r = dr ∘ r(1 − r); dx ="
        " [da_r | da_z | da_n] @ W_ih, dh += [da_r | da_z | dg] @ W_hh",
    "ex08 through time":
        "word t's gradient comes back through every later step: check dh, the state's gradient passed to the step"
        " before",
    "ex09 F (eq. 6)":
        "F = Q ∘ V, the Hadamard product",
    "ex09 Q (eq. 6)":
        "Q = tanh(linear_q_fusion(question))",
    "ex09 V (eq. 6)":
        "v̂ = α (B, G, S²) @ grid (B, S², M); V = the G maps tanh(list_linear_v_fusion[g](v̂[:, g])), "
        "concatenated along axis 1",
    "ex09 graph":
        "every output must stay in the engine's graph: no .data, .numpy() or Tensor(...) around a tensor that "
        "depends on question or features",
    "ex09 logits (eq. 7)":
        "logits = linear_classif(F)",
    "ex09 α (eq. 4)":
        "scores = conv_att(tanh(conv_v_att(grid)) ∘ tanh(linear_q_att(question)) reshaped to (B, 1, A)), grid = "
        "features reshaped to (B, M, S²) and transposed to (B, S², M); the softmax runs over the S² locations "
        "(axis 1 of the (B, S², G) scores), then transpose to (B, G, S²) and reshape to (B, G, S, S)",
    "ex10 ∇q":
        "∇q comes from its own pass over ½‖Q − F‖², taken first with retain_graph=True; F is out.F.detach() when "
        "F is fixed, out.F itself when not",
    "ex10 ∇v":
        "∇v comes from a second pass over ½‖V − F‖², started from +1 (the paper's sign), after I.grad = None "
        "(with F live the first pass reached the image too), under relu_rule('guided') when guided, "
        "relu_rule('gradient') when not",
    "ex11 constant ∇v":
        "σ is 0 up to rounding: nothing stands out, return zeros",
    "ex11 eq. 10":
        "absolute values first, then the sum over the D entries of each word vector (axis 1)",
    "ex11 eq. 11":
        "z = (s − mean) / std over the question's tokens (population std)",
    "ex11 eq. 9":
        "one μ and σ over the whole gradient, all channels at once (μ(∇v) in eq. 9 has no channel index), not one"
        " per channel; population σ (numpy's std)",
    "ex11 equal scores":
        "σ is 0 up to rounding: nothing stands out, return zeros; test σ against the size of the values (σ ≤ "
        "1e-12 · max |s|), not σ == 0",
}
