"""Lesson 6: the explanation of the paper, step by step (eq. 1-3, then 9-11), on a toy model and a trained one.

MLB joins question and image by the Hadamard product F = Q ∘ V (eq. 6). The method grew out of an earlier
one (Kim et al. 2016, the paper's eq. 1): back-propagate ½‖V_i − F_i‖², F_i held constant, from the
Hadamard products of a network to the image with *standard* backprop. The paper keeps that loss at MLB's
one product and changes two things: guided backprop at the ResNet's ReLUs, and a text side:

    eq. 2   ∇v := (V − F) ∂V/∂I        (I: the image)          eq. 3   ∇q := (Q − F) ∂Q/∂q   (q: word vectors)

i.e. the gradients of L_v = ½‖V − F‖² and L_q = ½‖Q − F‖² *with F held constant*. Why constant? F = Q ∘ V
depends on V. Differentiate L_v = ½‖(1 − Q)∘V‖² in V:

    F fixed:       ∂L_v/∂V = V − F
    F not fixed:   ∂L_v/∂V = (1 − Q)∘(1 − Q)∘V = (V − F)∘(1 − Q)

so not fixing F reweights every coordinate by 1 − Q ∈ (0, 2). The paper treats F as a target ("the virtual
target of joint representation") and found that works better.

Names. The paper writes q twice: bold **q** is the question vector (the GRU's last state, eq. 4-6) and q in
eq. 3 is the word vectors; and F twice: bold **F** is ResNet's feature grid (eq. 4-5), F of eq. 6 the
Hadamard output. The code says ``out.question`` and ``words`` for the q's, ``out.features`` and ``out.F``.

Steps 1-5 use a small random float64 model, where every step can be checked exactly; step 6 runs the same
on the shipped trained model and draws the paper's Figure 2.
Run:  python lessons/06_explanation_step_by_step.py [--out DIR]   (default DIR: lessons/output)
"""
from pathlib import Path

import _lesson
import numpy

from hadamard_min import Tensor, no_grad, ops
from hadamard_min.data.easyvqa import background_mask
from hadamard_min.data.example import EXAMPLE_IMAGE as EXAMPLE
from hadamard_min.data.example import example_question
from hadamard_min.data.text import Vocabulary
from hadamard_min.explain.figure import save_explanation_figure
from hadamard_min.explain.hadamard import deviation_gradients
from hadamard_min.explain.methods import explain
from hadamard_min.explain.postprocess import normalise_pixel_map, token_scores, token_z_scores
from hadamard_min.io.model_files import load_model
from hadamard_min.models.vqa import build_vqa_model

OUTPUT = Path(__file__).resolve().parent / "output"
CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 32, "word_dim": 6, "question_dim": 8,
          "joint_dim": 4, "glimpses": 2, "max_length": 8}
WORDS = ["what", "color", "is", "the", "shape", "circle", "there", "a", "red"]
QUESTION = "What color is the circle?"
QUESTION_TRAINED = example_question()   # hadamard-explain's example, from the installed package


def toy_model():
    model = build_vqa_model(CONFIG, Vocabulary(WORDS), ["red", "blue", "green", "circle", "square", "yes", "no"],
                            rng=numpy.random.default_rng(0))
    return model.astype(numpy.float64).eval()  # float64: the numerical checks below are exact to ~1e-9


def toy_image():
    """A red disc on white, 32×32, with a little noise: a flat image makes ties in max-pool windows,
    where the gradient is not defined and central differences disagree with any backward rule."""
    y, x = numpy.mgrid[:32, :32]
    image = numpy.full((32, 32, 3), 240.0)
    image[(y - 12) ** 2 + (x - 18) ** 2 < 64] = (220, 30, 30)
    noise = numpy.random.default_rng(2).integers(-12, 13, image.shape)
    return numpy.clip(image + noise, 0, 255).astype(numpy.uint8)


def step_forward(model):
    print("1. one forward pass from two leaves, the image I and the word vectors q")
    with model.frozen():
        out, I, q, lengths = model.forward_from_leaves(model.prepare_image(toy_image())[1][None], [QUESTION])
    for name, value, note in (("I", I, "image"), ("q", q, "word vectors (eq. 3's q)"),
                              ("question", out.question, "the GRU's state (bold q)"),
                              ("features", out.features, "ResNet's grid (bold F)"), ("Q", out.Q, ""),
                              ("V", out.V, ""), ("F", out.F, "F = Q ∘ V")):
        print(f"   {name:<9} {value.shape!s:<14} {note}")
    words = lengths[0]
    print(f"   q has {q.shape[1]} rows (the model's max_length) for a question of {words} words: the rows after\n"
          f"   the last word are padding, which the GRU skips (it keeps its state there: h ← m∘h_new + (1 − m)∘h,\n"
          f"   m = [t < {words}]). So padding gets no gradient, and ∇q below keeps the {words} real rows only.")
    return out, I, q, lengths


def step_fixed_f(out, rows):
    print("\n2. the deviation loss at V, F fixed and not")
    _lesson.predict("with F left in the graph, which coordinates of ∂L/∂V shrink, which grow?")
    Q, V0 = out.Q.data, out.V.data
    for fix_f, by_hand in ((True, V0 - Q * V0), (False, (V0 - Q * V0) * (1 - Q))):
        V = Tensor(V0, requires_grad=True)
        F = Tensor(Q) * V
        (0.5 * ((V - (F.detach() if fix_f else F)) ** 2).sum()).backward()
        print(f"   F {'fixed    ' if fix_f else 'not fixed'} ∂L/∂V[:4] = {numpy.round(V.grad[0, :4], 5)}")
        rows.append((f"∂L/∂V vs {'V − F' if fix_f else '(V − F)∘(1 − Q)'}", V.grad, by_hand))
    print(f"   each is scaled by 1 − Q, here {numpy.round(1 - Q[0, :4], 3)}: it shrinks where Q > 0 (vanishes as "
          f"Q → 1)\n   and grows where Q < 0 (up to 2×).")


def step_gradients(model, lengths, out, I, q, rows):
    print("\n3. eq. 2-3 as vector-Jacobian products: L_q first (graph kept), then L_v; F fixed; and here with\n"
          "   *plain* gradients at the ResNet's ReLUs (guided=False), not eq. 2's guided rule: a plain gradient is\n"
          "   a derivative, so central differences can check it below. Step 5 turns guided backprop on.")
    F0 = out.F.data
    with model.frozen():
        grad_v, grad_q_padded = deviation_gradients(out, I, q, guided=False)
    grad_q = grad_q_padded[0, : lengths[0]]
    print(f"   ∇v {grad_v[0].shape}; ∇q {grad_q_padded[0].shape} trimmed to the {lengths[0]} words: {grad_q.shape}")
    rows.append(("∇q on the padding rows vs 0", grad_q_padded[0, lengths[0]:], 0.0))
    e = explain(model, toy_image(), QUESTION, guided=False)
    rows.append(("∇v: steps here vs explain", grad_v[0], e.grad_v))
    rows.append(("∇q: steps here vs explain", grad_q, e.grad_q))
    d = numpy.random.default_rng(1).standard_normal(I.shape)

    def loss_v(x):
        with no_grad():
            return 0.5 * ((model.forward_words(Tensor(x), Tensor(q.data), lengths).V.data - F0) ** 2).sum()

    numeric = (loss_v(I.data + 1e-6 * d) - loss_v(I.data - 1e-6 * d)) / 2e-6
    rows.append(("⟨∇v, d⟩ vs central diff", (grad_v * d).sum(), numeric))
    return grad_q


def step_gru(model, q, lengths, out, grad_q, rows):
    print("\n4. ∂Q/∂q through time: Q = σ(W_qᵀ h_ρ) (eq. 6), h_t = GRU(q_t, h_{t−1}), so word t reaches Q")
    print("   through every later step. ∂Q/∂q is a Jacobian (G·J) × (ρ·D); eq. 3 multiplies it by Q − F.")
    words = Tensor(q.data[:, : lengths[0]], requires_grad=True)
    Q = ops.tanh(model.mlb.linear_q_fusion(model.encoder.encode(words, lengths)))   # eq. 6's Q from q alone
    jacobian = numpy.empty((Q.size,) + words.shape[1:])
    for k in range(Q.size):                 # one backward walk per row: the engine does backprop through time
        words.grad = None
        Q.backward(numpy.eye(Q.size)[k].reshape(Q.shape), retain_graph=True)
        jacobian[k] = words.grad[0]
    tokens = QUESTION.lower().rstrip("?").split()
    print("   word      steps after it   ‖∂Q/∂q_t‖")
    for t, token in enumerate(tokens):
        print(f"   {token:<9} {len(tokens) - 1 - t:>14}   {numpy.linalg.norm(jacobian[:, t]):9.4f}")
    vjp = numpy.einsum("k,ktd->td", out.Q.data[0] - out.F.data[0], jacobian)
    rows.append(("(Q − F)ᵀ ∂Q/∂q vs ∇q", vjp, grad_q))
    print("   (exercise 8 writes one GRU step's backward by hand and checks it against this walk)")


def step_sign_and_guided(model, rows):
    print("\n5. guided backprop, and the sign of the authors' code (it pushed F − V instead of V − F)")
    _lesson.predict("flipping the sign of the start negates a plain gradient; does it negate a guided one?")
    maps = {(guided, sign): explain(model, toy_image(), QUESTION, guided=guided, sign=sign).grad_v
            for guided in (False, True) for sign in ("paper", "code")}

    def corr(a, b):
        return numpy.corrcoef(a.ravel(), b.ravel())[0, 1]

    print(f"   entries exactly zero: plain {numpy.mean(maps[False, 'paper'] == 0):.0%}, "
          f"guided {numpy.mean(maps[True, 'paper'] == 0):.0%}; correlation(plain, guided) = "
          f"{corr(maps[False, 'paper'], maps[True, 'paper']):+.3f}")
    print(f"   code sign: plain maps negate exactly; guided ones do not (a ReLU passes only positive signals):\n"
          f"   the guided maps of the two signs correlate {corr(maps[True, 'code'], maps[True, 'paper']):+.3f}, "
          f"where a negation would give −1.")
    rows.append(("code sign vs −paper, plain", maps[False, "code"], -maps[False, "paper"]))


def step_trained(out_dir, rows):
    print("\n6. the shipped trained model (weights/easyvqa_mlb.npz), eq. 1-3 and 9-11, and the paper's Figure 2")
    model = load_model()
    runs = {"eq. 2 (guided, F fixed)": explain(model, EXAMPLE, QUESTION_TRAINED),
            "eq. 1's plain backprop": explain(model, EXAMPLE, QUESTION_TRAINED, guided=False),
            "F not fixed": explain(model, EXAMPLE, QUESTION_TRAINED, fix_f=False)}
    e = runs["eq. 2 (guided, F fixed)"]
    mask = background_mask(e.image)
    print(f"   '{e.question}' → {e.answer} (p = {e.probability:.3f}); the shape covers {mask.mean():.0%} of "
          f"the image")
    for name, run in runs.items():
        print(f"   {name:<24} share of Σ|∇v| on the shape {run.heatmap[mask].sum() / run.heatmap.sum():.2f}")
    print("   eq. 10-11: " + "  ".join(f"{t} {z:+.2f}" for t, z in zip(e.tokens, e.token_z)))
    spread = e.grad_v.std(axis=(1, 2))
    per_channel = (e.grad_v - e.grad_v.mean(axis=(1, 2), keepdims=True)) / spread[:, None, None]
    print(f"   eq. 9 writes μ(∇v), σ(∇v), one of each for the whole gradient (the code does so), while the text\n"
          f"   says 'channel-wise'. The channels' σ here: {numpy.round(spread / spread.max(), 2)} of the largest;"
          f" standardising each\n   channel alone would scale the weakest up {spread.max() / spread.min():.1f}×"
          f" and change the colours, not the layout: correlation of\n   the two heat-maps "
          f"{numpy.corrcoef(numpy.abs(per_channel).sum(0).ravel(), e.heatmap.ravel())[0, 1]:.3f}.")
    rows.append(("eq. 9: std of ∇̂v vs 1", e.pixel_map.std(), 1.0))
    rows.append(("eq. 11: explain vs by hand", e.token_z, token_z_scores(token_scores(e.grad_q))))
    rows.append(("eq. 9: explain vs by hand", e.pixel_map, normalise_pixel_map(e.grad_v)))
    out_dir.mkdir(exist_ok=True)
    path = save_explanation_figure(out_dir / "06_figure2.png", e.image, e.alpha, e.pixel_map, e.tokens, e.token_z,
                                   e.answer, e.probability, top_k=e.top_k, heatmap=e.heatmap)
    print(f"   Figure 2 for this model: {path}")


def main(argv=None):
    parser = _lesson.parser(__doc__)
    parser.add_argument("--out", type=_lesson.output_folder, default=OUTPUT,
                        help="folder for the figure, created if missing in an existing folder "
                             "(default: lessons/output)")
    args = parser.parse_args(argv)
    _lesson.start(__doc__)
    model, rows = toy_model(), []
    out, I, q, lengths = step_forward(model)
    step_fixed_f(out, rows)
    grad_q = step_gradients(model, lengths, out, I, q, rows)
    step_gru(model, q, lengths, out, grad_q, rows)
    step_sign_and_guided(model, rows)
    step_trained(args.out, rows)

    print(f"\n{'comparison':<34} {'max |difference|':>17}")
    for name, ours, reference in rows:
        error = float(numpy.abs(numpy.asarray(ours) - numpy.asarray(reference)).max())
        scale = max(1.0, float(numpy.abs(numpy.asarray(reference)).max()))
        print(f"{name:<34} {error:17.3e}")
        if error > 1e-6 * scale:
            raise SystemExit(f"unexpected result for {name!r}: {error:.3e}")


if __name__ == "__main__":
    main()
