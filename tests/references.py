"""Shared test references: a tiny float64 VQA model (the torch references live in ``hadamard_min/oracle/``)."""
import numpy

from hadamard_min.data.text import Vocabulary
from hadamard_min.models.vqa import build_vqa_model
from hadamard_min.nn.layers import BatchNorm2d


def tiny_float64_model(config, words, answers):
    """A random VQA model in float64 whose batch norms have non-trivial statistics, in eval mode."""
    model = build_vqa_model(config, Vocabulary(words), answers, rng=numpy.random.default_rng(0)).astype(numpy.float64)
    rng = numpy.random.default_rng(1)
    for _, module in model.named_modules():
        if isinstance(module, BatchNorm2d):
            c = module.weight.shape[0]
            module.weight.data, module.bias.data = rng.uniform(0.5, 1.5, c), rng.normal(0, 0.3, c)
            object.__setattr__(module, "running_mean", rng.normal(0, 0.3, c))
            object.__setattr__(module, "running_var", rng.uniform(0.5, 1.5, c))
    return model.eval()
