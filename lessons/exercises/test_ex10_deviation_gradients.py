"""Grades exercise 10: ∇v and ∇q against the package's explanation (explain/hadamard.py) on a small random
float64 model, for F fixed and not, guided and plain, on batches of questions and images Hypothesis draws."""
import numpy
from grading import cases, compare, load, running
from hypothesis import strategies as st

from hadamard_min.data.text import Vocabulary
from hadamard_min.explain.hadamard import deviation_gradients
from hadamard_min.models.vqa import build_vqa_model
from hadamard_min.ops.relu import relu_rule

CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 32, "word_dim": 6, "question_dim": 8,
          "joint_dim": 4, "glimpses": 2, "max_length": 8}
QUESTIONS = ["what color is the circle", "is there a red shape", "what shape is there", "is the circle red"]
BATCHES = st.tuples(st.lists(st.sampled_from(QUESTIONS), min_size=1, max_size=2), st.integers(0, 2 ** 16))


def small_model():
    words = ["what", "color", "is", "the", "circle", "there", "a", "red", "shape"]
    model = build_vqa_model(CONFIG, Vocabulary(words), ["red", "blue", "yes", "no"],
                            rng=numpy.random.default_rng(10))
    return model.astype(numpy.float64)


SETTINGS = [(fix_f, guided) for fix_f in (True, False) for guided in (True, False)]


def describe(setting):
    return f"F {'fixed' if setting[0] else 'not fixed'}, {'guided' if setting[1] else 'plain'}"


def slips(out, I, q, fix_f, guided):
    """What two known slips give: (∇v, ∇q) from one pass over L_v + L_q, and ∇v with I.grad kept."""
    F = out.F.detach() if fix_f else out.F
    L_v, L_q = 0.5 * ((out.V - F) ** 2).sum(), 0.5 * ((out.Q - F) ** 2).sum()
    L_q.backward(retain_graph=True)
    with relu_rule("guided" if guided else "gradient"):
        L_v.backward(retain_graph=True)
    kept = I.grad
    I.grad = q.grad = None
    with relu_rule("guided" if guided else "gradient"):
        (L_v + L_q).backward()
    return {"one pass": (I.grad, q.grad), "kept": (kept, None)}


def mix_up(expected, slipped, setting, k):
    """A diagnosis: the answer is right, but for another setting (F live when it should be fixed, …), or it
    is what a known slip gives."""
    def diagnose(got, _):
        for other in SETTINGS:
            if other != setting and numpy.allclose(got, expected[other][k], rtol=1e-7, atol=1e-9):
                return f"yours is the right answer for {describe(other)}, not for {describe(setting)}"
        if numpy.allclose(got, slipped["one pass"][k], rtol=1e-7, atol=1e-9):
            return (f"yours is what one backward pass over both deviation losses gives: {'∇v' if k == 0 else '∇q'} "
                    f"then also holds the other loss's gradient")
        if k == 0 and numpy.allclose(got, slipped["kept"][0], rtol=1e-7, atol=1e-9):
            return "yours also holds what the pass for ∇q left in I.grad"
        return ""
    return diagnose


def grade(ex):
    model = small_model()

    @cases(BATCHES, (QUESTIONS[:2], 11), count=4)
    def check(batch):
        questions, seed = batch
        rng = numpy.random.default_rng(seed)
        images = numpy.stack([model.prepare_image(rng.integers(0, 256, (32, 32, 3), dtype=numpy.uint8))[1]
                              for _ in questions])

        def run(function, fix_f, guided, *sign):
            with model.frozen():
                out, I, q, _ = model.forward_from_leaves(images, questions)
                return function(out, I, q, fix_f, *sign, guided)

        expected = {setting: run(deviation_gradients, *setting, "paper") for setting in SETTINGS}
        for setting in SETTINGS:
            slipped = run(slips, *setting)
            where = f"{describe(setting)}, {len(questions)} question(s)"
            with running(f"deviation_gradients ({where})"):
                grad_v, grad_q = run(ex.deviation_gradients, *setting)
            compare(f"∇q ({where}; element = (question, word, dim))", grad_q, expected[setting][1],
                    diagnose=mix_up(expected, slipped, setting, 1),
                    hint="ex10 ∇q")
            compare(f"∇v ({where}; element = (image, colour, row, column))", grad_v, expected[setting][0],
                    diagnose=mix_up(expected, slipped, setting, 0),
                    hint="ex10 ∇v")
    check()


def test_exercise_10():
    grade(load("ex10_deviation_gradients"))
