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
from hadamard_min.parallel import map_chunks


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
    for _, module in model.named_modules():
        module.weights_may_change()  # a frozen model's inference forms would keep the weights of before
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


def sanity_check(model, images, questions, methods, seed=0, progress=None, workers=1):
    """Cascading randomisation: ``{"steps": [...], "scores": {method: [[ρ_s per example] per step]}}``.

    ``methods`` maps a name to ``(kind, function)`` with kind "visual" or "text" and function a registry
    entry of :mod:`baselines`. The model itself is not changed (the cascade runs on copies). ``workers``
    processes share the steps (:mod:`hadamard_min.parallel`); the scores do not depend on it.
    """
    steps = cascade(model)
    outputs = map_chunks(outputs_after, (model, images, questions, methods, seed, steps), range(len(steps) + 1),
                         workers)
    originals = next(outputs)
    scores = {name: [] for name in methods}
    for number, randomised in enumerate(outputs, 1):
        for name, (kind, _) in methods.items():
            scores[name].append(similarity(originals[name], randomised[name], kind))
        if progress:
            progress(number, len(steps), steps[number - 1][0])
    return {"steps": [step for step, _ in steps], "scores": scores}


def outputs_after(job, count):
    """Every method's output with the first ``count`` steps of the cascade randomised (0: the trained model).

    Each step draws from one generator in the cascade's order, so step ``count`` replays the draws of the
    steps before it: any process computes the same randomised model.
    """
    model, images, questions, methods, seed, steps = job
    if count:
        model, rng = copy.deepcopy(model), numpy.random.default_rng([seed, 7])
        for _, prefixes in steps[:count]:
            randomise(model, prefixes, rng)
    return {name: function(model, images, questions, numpy.random.default_rng(seed))
            for name, (_, function) in methods.items()}
