"""Lesson 6: the explanation of the paper, step by step (eq. 2-3, then 9-11).

MLB joins question and image by the Hadamard product F = Q ∘ V. The paper explains a prediction by how
far each input of the product is from its output, carried back to the network's inputs:

    eq. 2   ∇v := (V − F) ∂V/∂I        (I: the image)          eq. 3   ∇q := (Q − F) ∂Q/∂q   (q: word vectors)

i.e. the gradients of the deviation losses L_v = ½‖V − F‖² and L_q = ½‖Q − F‖² *with F held constant*.
Why constant? F = Q ∘ V depends on V itself. Differentiate L_v = ½‖V − Q∘V‖² = ½‖(1 − Q)∘V‖² in V:

    F fixed:       ∂L_v/∂V = V − F
    F not fixed:   ∂L_v/∂V = (1 − Q)∘(1 − Q)∘V = (V − F)∘(1 − Q)

so not fixing F reweights every coordinate by 1 − Q ∈ (0, 2), muting those where Q ≈ 1. The paper
treats F as a target ("the virtual target of joint representation") and found that works better.

The model here is small and untrained (random float64 weights): the maps mean nothing yet, but every
step can be checked exactly. Run:  python lessons/06_explanation_step_by_step.py
(after ``pip install -e .``, or with ``PYTHONPATH=.``).
"""
import numpy

from hadamard_min import Tensor, no_grad
from hadamard_min.data.text import Vocabulary
from hadamard_min.explain.hadamard import explain
from hadamard_min.explain.postprocess import normalise_pixel_map, token_scores, token_z_scores
from hadamard_min.models.vqa import build_vqa_model

CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 32, "word_dim": 6, "question_dim": 8,
          "joint_dim": 4, "glimpses": 2, "max_length": 8}
WORDS = ["what", "color", "is", "the", "shape", "circle", "there", "a", "red"]
ANSWERS = ["red", "blue", "green", "circle", "square", "yes", "no"]
QUESTION = "What color is the circle?"


def toy_model():
    model = build_vqa_model(CONFIG, Vocabulary(WORDS), ANSWERS, rng=numpy.random.default_rng(0))
    for p in model.parameters():          # float64: the numerical checks below are exact to ~1e-9
        p.data = p.data.astype(numpy.float64)
    return model.eval()


def toy_image():
    """A red disc on white, 32×32, with a little noise: a flat image makes ties in max-pool windows,
    where the gradient is not defined and central differences disagree with any backward rule."""
    y, x = numpy.mgrid[:32, :32]
    image = numpy.full((32, 32, 3), 240.0)
    image[(y - 12) ** 2 + (x - 18) ** 2 < 64] = (220, 30, 30)
    noise = numpy.random.default_rng(2).integers(-12, 13, image.shape)
    return numpy.clip(image + noise, 0, 255).astype(numpy.uint8)


def step_forward(model, image):
    print("1. one forward pass")
    ids, lengths = model.encode_questions([QUESTION])
    I = model.prepare_image(image)[1][None]
    q = model.encoder.embed(ids).data
    with model.frozen():
        out = model.forward_words(Tensor(I), Tensor(q), lengths)
    for name, value in (("I", I), ("q", q), ("Q", out.Q.data), ("V", out.V.data), ("F", out.F.data)):
        print(f"   {name}  {value.shape}")
    return I, q, lengths, out


def step_fixed_f(out, rows):
    print("\n2. the deviation loss at V, F fixed and not")
    Q, V0 = out.Q.data, out.V.data
    for fix_f, by_hand in ((True, V0 - Q * V0), (False, (V0 - Q * V0) * (1 - Q))):
        V = Tensor(V0, requires_grad=True)
        F = Tensor(Q) * V
        loss = 0.5 * ((V - (F.detach() if fix_f else F)) ** 2).sum()
        loss.backward()
        print(f"   F {'fixed    ' if fix_f else 'not fixed'} ∂L/∂V[:4] = {numpy.round(V.grad[0, :4], 5)}")
        label = "V − F" if fix_f else "(V − F)∘(1 − Q)"
        rows.append((f"∂L/∂V vs {label}", V.grad, by_hand))
    h, k = 1e-6, 0
    bump = numpy.zeros_like(V0)
    bump[0, k] = h

    def unfixed(v):
        return 0.5 * ((v - Q * v) ** 2).sum()

    numeric = (unfixed(V0 + bump) - unfixed(V0 - bump)) / (2 * h)
    rows.append(("unfixed ∂L/∂V_0 vs central diff", (V0 - Q * V0)[0, k] * (1 - Q[0, k]), numeric))


def step_gradients(model, I, q, lengths, out, rows):
    print("\n3. eq. 2-3 as vector-Jacobian products: Q.backward(Q − F), then V.backward(V − F)")
    F0 = out.F.data
    with model.frozen():
        image, words = Tensor(I, requires_grad=True), Tensor(q, requires_grad=True)
        again = model.forward_words(image, words, lengths)
        again.Q.backward(again.Q.data - F0, retain_graph=True)   # (Q − F) ∂Q/∂q  (Q does not depend on I)
        grad_q = words.grad[0, : lengths[0]]
        again.V.backward(again.V.data - F0)   # (V − F) ∂V/∂I  (it reaches q too, via α: kept apart)
        grad_v = image.grad[0]
    print(f"   ∇v {grad_v.shape}, ∇q {grad_q.shape}")
    e = explain(model, toy_image(), QUESTION, guided=False)
    rows.append(("∇v: by hand vs explain", grad_v, e.grad_v))
    rows.append(("∇q: by hand vs explain", grad_q, e.grad_q))
    d = numpy.random.default_rng(1).standard_normal(I.shape)

    def loss_v(x):
        with no_grad():
            return 0.5 * ((model.forward_words(Tensor(x), Tensor(q), lengths).V.data - F0) ** 2).sum()

    numeric = (loss_v(I + 1e-6 * d) - loss_v(I - 1e-6 * d)) / 2e-6
    rows.append(("⟨∇v, d⟩ vs central diff", (grad_v * d[0]).sum(), numeric))


def step_guided(model, rows):
    print("\n4. guided backprop: at every ReLU only positive signals pass, dy·[x > 0]·[dy > 0]")
    plain, guided = explain(model, toy_image(), QUESTION, guided=False), explain(model, toy_image(), QUESTION)
    code_plain = explain(model, toy_image(), QUESTION, guided=False, sign="code")
    code_guided = explain(model, toy_image(), QUESTION, sign="code")

    def corr(a, b):
        return numpy.corrcoef(a.ravel(), b.ravel())[0, 1]

    zeros = [numpy.mean(e.grad_v == 0) for e in (plain, guided)]
    print(f"   entries exactly zero: plain {zeros[0]:.0%}, guided {zeros[1]:.0%}")
    print(f"   correlation(plain, guided) = {corr(plain.grad_v, guided.grad_v):+.3f}")
    print(f"   the code's sign (F − V): plain maps negate exactly, guided ones do not: "
          f"correlation(code, −paper) = {corr(code_guided.grad_v, -guided.grad_v):+.3f}")
    rows.append(("code sign vs −paper, plain", code_plain.grad_v, -plain.grad_v))
    return guided


def step_post_processing(e, rows):
    print("\n5. post-processing")
    pixel_map = normalise_pixel_map(e.grad_v)
    print(f"   eq. 9  ∇̂v = (∇v − μ)/σ: mean {pixel_map.mean():+.1e}, std {pixel_map.std():.6f}")
    scores, z = token_scores(e.grad_q), token_z_scores(token_scores(e.grad_q))
    print("   eq. 10-11   token      Σ_d |∇q(i,d)|     z")
    for token, score, zi in zip(e.tokens, scores, z):
        print(f"               {token:<10} {score:13.3e}  {zi:+.2f}")
    rows.append(("eq. 9: std of ∇̂v vs 1", pixel_map.std(), 1.0))
    rows.append(("eq. 11: Σ z vs 0", z.sum(), 0.0))
    rows.append(("eq. 11: explain vs by hand", e.token_z, z))


def main():
    model, rows = toy_model(), []
    I, q, lengths, out = step_forward(model, toy_image())
    step_fixed_f(out, rows)
    step_gradients(model, I, q, lengths, out, rows)
    guided = step_guided(model, rows)
    step_post_processing(guided, rows)
    print(f"\n   answer: {guided.answer} (p = {guided.probability:.3f}; untrained, so a guess)")

    print(f"\n{'comparison':<34} {'max |difference|':>17}")
    for name, ours, reference in rows:
        error = float(numpy.abs(numpy.asarray(ours) - numpy.asarray(reference)).max())
        scale = max(1.0, float(numpy.abs(numpy.asarray(reference)).max()))
        print(f"{name:<34} {error:17.3e}")
        if error > 1e-6 * scale:
            raise SystemExit(f"unexpected result for {name!r}: {error:.3e}")


if __name__ == "__main__":
    main()
