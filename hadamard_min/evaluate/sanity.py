"""The model-randomisation sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps").

Starting from the trained model, the parameters are replaced step by step, from the output down to the
input, and every method is run again on the same inputs after each step:

    classifier P_o → Q/V projections W_q, V_v → attention U_q, V_F, P_α → GRU → backbone stages, last first

A parameter tensor θ is replaced by θ' ~ N(mean(θ), std(θ)²) elementwise (seeded): the scale each layer
expects is kept, what it learned is gone. Batch-norm running statistics are left as they are.
At each step the score is Spearman's ρ_s between the map's magnitude Σ_c |·| on the randomised model and
on the trained one (per example; token scores likewise over the question's tokens). A method that
explains the model falls towards 0 as the model is destroyed; one that stays near 1 shows something the
randomised layers do not decide (an edge detector, or a quantity those layers never enter).
"""
import copy

import numpy

from hadamard_min.core.backend import to_device
from hadamard_min.evaluate.metrics import magnitude, spearman


def cascade(model):
    """``[(step name, [parameter-name prefixes])]`` from the classifier down to the backbone's stem."""
    stages = [(f"backbone stage {k}", [f"backbone.layer{k}."])
              for k in range(len(model.backbone.layers), 0, -1)]
    return [("classifier", ["mlb.linear_classif."]),
            ("Q/V projections", ["mlb.linear_q_fusion.", "mlb.list_linear_v_fusion."]),
            ("attention", ["mlb.linear_q_att.", "mlb.conv_v_att.", "mlb.conv_att."]),
            ("GRU", ["encoder.gru."]),
            *stages,
            ("backbone stem", ["backbone.conv1.", "backbone.bn1."])]


def randomise(model, prefixes, rng):
    """Replace, in place, every parameter whose name starts with one of ``prefixes`` by N(mean, std²) noise.

    Returns the number of parameter tensors replaced.
    """
    count = 0
    for name, parameter in model.named_parameters():
        if name.startswith(tuple(prefixes)):
            values = parameter.numpy().astype(numpy.float64)
            noise = rng.normal(values.mean(), values.std(), values.shape).astype(parameter.dtype)
            parameter.data = to_device(noise)
            count += 1
    return count


def similarity(original, randomised, kind):
    """ρ_s per example between original and randomised outputs (maps by magnitude, token scores as such)."""
    if kind == "visual":
        return [spearman(magnitude(a), magnitude(b)) for a, b in zip(original, randomised)]
    return [spearman(a, b) for a, b in zip(original, randomised)]


def sanity_check(model, images, questions, methods, seed=0, progress=None):
    """Cascading randomisation: ``{"steps": [...], "scores": {method: [[ρ_s per example] per step]}}``.

    ``methods`` maps a name to ``(kind, function)`` with kind "visual" or "text" and function a registry
    entry of :mod:`baselines`. The model itself is not changed (the cascade runs on a copy).
    """
    rng = numpy.random.default_rng([seed, 7])
    originals = {name: function(model, images, questions, numpy.random.default_rng(seed))
                 for name, (kind, function) in methods.items()}
    copy_of_model = copy.deepcopy(model)
    steps = cascade(model)
    scores = {name: [] for name in methods}
    for number, (step, prefixes) in enumerate(steps, 1):
        randomise(copy_of_model, prefixes, rng)
        for name, (kind, function) in methods.items():
            randomised = function(copy_of_model, images, questions, numpy.random.default_rng(seed))
            scores[name].append(similarity(originals[name], randomised, kind))
        if progress:
            progress(number, len(steps), step)
    return {"steps": [step for step, _ in steps], "scores": scores}
