"""Exercise 10: the paper's explanation, eq. 2-3: the deviation gradients, with F fixed and not.

    eq. 2   ∇v := (V − F) ∂V/∂I        I: the image (the network's input, a leaf tensor)
    eq. 3   ∇q := (Q − F) ∂Q/∂q        q: the word vectors (a leaf tensor)

Each is the gradient of a deviation loss, L_v = ½‖V − F‖² at I and L_q = ½‖Q − F‖² at q, with F held
constant (``fix_f=True``: F = out.F.detach(), the paper's "virtual target"); with ``fix_f=False`` F stays in
the graph (the ablation) and ∂L_v/∂V becomes (V − F) ∘ (1 − Q).

Write ``deviation_gradients(out, I, q, fix_f, guided)`` → (∇v, ∇q) as arrays (I.grad and q.grad):
  1. the two losses from out.Q, out.V and F (summed over the batch);
  2. L_q.backward(retain_graph=True) first: ∇q = q.grad (the graph is kept for the second pass);
  3. I.grad = None (with F live, L_q reaches the image too), then L_v.backward(), inside
     ``relu_rule("guided")`` when ``guided`` (eq. 2 uses guided backprop at every ReLU), else
     ``relu_rule("gradient")``: ∇v = I.grad.
Why two passes? V depends on q as well (through the attention α): one pass over L_v + L_q would add
∂L_v/∂q into ∇q.

Check:  python -m pytest lessons/exercises/test_ex10_deviation_gradients.py
"""
from hadamard_min.ops.relu import relu_rule  # noqa: F401  (you will need it)


def deviation_gradients(out, I, q, fix_f=True, guided=True):
    """(∇v, ∇q): ∂/∂I of ½‖V − F‖² (eq. 2) and ∂/∂q of ½‖Q − F‖² (eq. 3), F fixed or not."""
    raise NotImplementedError("exercise 10: deviation_gradients — L_q then L_v, F = out.F.detach() when fix_f; "
                              "L_q.backward(retain_graph=True), I.grad = None, L_v.backward() under relu_rule")
