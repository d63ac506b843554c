"""Shared test references: a tiny float64 VQA model (the torch references live in ``hadamard_min/oracle/``)."""
import numpy

from hadamard_min.data.text import Vocabulary
from hadamard_min.models.vqa import build_vqa_model
from hadamard_min.nn.layers import BatchNorm2d

# The tiny VQA problem several test files share: its words, answers, model settings, two questions, two images.
WORDS = ["what", "color", "is", "the", "shape", "circle", "there", "a", "red"]
ANSWERS = ["red", "blue", "green", "yes", "no", "circle"]
CONFIG = {"backbone": {"layers": [1, 1], "width": 4}, "image_size": 16, "word_dim": 4, "question_dim": 5,
          "joint_dim": 3, "glimpses": 2, "max_length": 6}
QUESTIONS = ["What color is the circle?", "is there a red shape"]
IMAGES = numpy.random.default_rng(7).integers(0, 256, (2, 16, 16, 3), dtype=numpy.uint8)


def randomize_batchnorm(model, rng):
    """Non-trivial γ, β, running mean and variance in every batch norm of ``model``, so that none is an identity."""
    for _, module in model.named_modules():
        if isinstance(module, BatchNorm2d):
            c = module.weight.shape[0]
            module.weight.data = rng.uniform(0.5, 1.5, c).astype(module.weight.dtype)
            module.bias.data = rng.normal(0, 0.3, c).astype(module.bias.dtype)
            module.running_mean = rng.normal(0, 0.3, c).astype(module.running_mean.dtype)
            module.running_var = rng.uniform(0.5, 1.5, c).astype(module.running_var.dtype)
    return model


def tiny_float64_model(config=None, words=WORDS, answers=ANSWERS):
    """A random VQA model in float64 (``CONFIG`` by default) whose batch norms have non-trivial statistics,
    in eval mode."""
    model = build_vqa_model(config or CONFIG, Vocabulary(words), answers, rng=numpy.random.default_rng(0))
    return randomize_batchnorm(model.astype(numpy.float64), numpy.random.default_rng(1)).eval()


def bilinear(grid, height, width):
    """Bilinear upsampling pixel by pixel at half-pixel centres (as torch's align_corners=False), float64."""
    out = numpy.zeros((height, width))
    rows, cols = grid.shape
    for y in range(height):
        for x in range(width):
            v = min(max((y + 0.5) * rows / height - 0.5, 0.0), rows - 1)
            u = min(max((x + 0.5) * cols / width - 0.5, 0.0), cols - 1)
            y0, x0 = int(v), int(u)
            y1, x1 = min(y0 + 1, rows - 1), min(x0 + 1, cols - 1)
            t, s = v - y0, u - x0
            out[y, x] = ((1 - t) * ((1 - s) * grid[y0, x0] + s * grid[y0, x1])
                         + t * ((1 - s) * grid[y1, x0] + s * grid[y1, x1]))
    return out
