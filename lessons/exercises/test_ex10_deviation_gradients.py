"""Grades exercise 10: ∇v and ∇q against the package's explanation (explain/hadamard.py) on a small random
float64 model, for F fixed and not, guided and plain, on batches of questions and images Hypothesis draws."""
import numpy
from grading import cases, compare, load, running
from hypothesis import strategies as st

from hadamard_min.data.text import Vocabulary
from hadamard_min.explain.hadamard import deviation_gradients
from hadamard_min.models.vqa import build_vqa_model

CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 32, "word_dim": 6, "question_dim": 8,
          "joint_dim": 4, "glimpses": 2, "max_length": 8}
QUESTIONS = ["what color is the circle", "is there a red shape", "what shape is there", "is the circle red"]
BATCHES = st.tuples(st.lists(st.sampled_from(QUESTIONS), min_size=1, max_size=2), st.integers(0, 2 ** 16))


def small_model():
    words = ["what", "color", "is", "the", "circle", "there", "a", "red", "shape"]
    model = build_vqa_model(CONFIG, Vocabulary(words), ["red", "blue", "yes", "no"],
                            rng=numpy.random.default_rng(10))
    return model.astype(numpy.float64)


def grade(ex):
    model = small_model()

    @cases(BATCHES, (QUESTIONS[:2], 11), count=4)
    def check(batch):
        questions, seed = batch
        rng = numpy.random.default_rng(seed)
        images = numpy.stack([model.prepare_image(rng.integers(0, 256, (32, 32, 3), dtype=numpy.uint8))[1]
                              for _ in questions])
        for fix_f in (True, False):
            for guided in (True, False):
                setting = f"F {'fixed' if fix_f else 'not fixed'}, {'guided' if guided else 'plain'}, " \
                          f"{len(questions)} question(s)"
                results = []
                for function in (ex.deviation_gradients, deviation_gradients):
                    with model.frozen():
                        out, I, q, _ = model.forward_from_leaves(images, questions)
                        args = (fix_f, guided) if function is ex.deviation_gradients else (fix_f, "paper", guided)
                        with running(f"deviation_gradients ({setting})"):
                            results.append(function(out, I, q, *args))
                (grad_v, grad_q), (expected_v, expected_q) = results
                compare(f"∇q ({setting}; element = (question, word, dim))", grad_q, expected_q,
                        hint="∇q comes from its own pass over ½‖Q − F‖², taken first with retain_graph=True; F "
                             "is out.F.detach() when F is fixed, out.F itself when not")
                compare(f"∇v ({setting}; element = (image, colour, row, column))", grad_v, expected_v,
                        hint="∇v comes from a second pass over ½‖V − F‖², started from +1 (the paper's sign), "
                             "after I.grad = None (with F live the first pass reached the image too), under "
                             "relu_rule('guided') when guided, relu_rule('gradient') when not")
    check()


def test_exercise_10():
    grade(load("ex10_deviation_gradients"))
