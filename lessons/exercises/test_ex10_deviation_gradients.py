"""Grades exercise 10: ∇v and ∇q against the package's explanation (explain/hadamard.py) on a small random
float64 model, for F fixed and not, guided and plain."""
import numpy
from grading import compare, load

from hadamard_min.data.text import Vocabulary
from hadamard_min.explain.hadamard import deviation_gradients
from hadamard_min.models.vqa import build_vqa_model

CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 32, "word_dim": 6, "question_dim": 8,
          "joint_dim": 4, "glimpses": 2, "max_length": 8}
QUESTIONS = ["what color is the circle", "is there a red shape"]


def small_model():
    words = ["what", "color", "is", "the", "circle", "there", "a", "red", "shape"]
    model = build_vqa_model(CONFIG, Vocabulary(words), ["red", "blue", "yes", "no"],
                            rng=numpy.random.default_rng(10))
    return model.astype(numpy.float64)


def grade(ex):
    model = small_model()
    rng = numpy.random.default_rng(11)
    images = numpy.stack([model.prepare_image(rng.integers(0, 256, (32, 32, 3), dtype=numpy.uint8))[1]
                          for _ in QUESTIONS])
    for fix_f in (True, False):
        for guided in (True, False):
            setting = f"F {'fixed' if fix_f else 'not fixed'}, {'guided' if guided else 'plain'}"
            results = []
            for function in (ex.deviation_gradients, deviation_gradients):
                with model.frozen():
                    out, I, q, _ = model.forward_from_leaves(images, QUESTIONS)
                    args = (fix_f, guided) if function is ex.deviation_gradients else (fix_f, "paper", guided)
                    results.append(function(out, I, q, *args))
            (grad_v, grad_q), (expected_v, expected_q) = results
            compare(f"∇q ({setting}; element = (question, word, dim))", grad_q, expected_q,
                    hint="∇q comes from its own pass over ½‖Q − F‖², taken first with retain_graph=True; F is "
                         "out.F.detach() when F is fixed, out.F itself when not")
            compare(f"∇v ({setting}; element = (image, colour, row, column))", grad_v, expected_v,
                    hint="∇v comes from a second pass over ½‖V − F‖², started from +1 (the paper's sign), "
                         "after I.grad = None, under relu_rule('guided') when guided")


def test_exercise_10():
    grade(load("ex10_deviation_gradients"))
