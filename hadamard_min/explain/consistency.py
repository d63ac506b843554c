"""What an explanation's fields must agree on among themselves, beyond each field's own type and shape.

``explain`` ranks the softmax p(a | q, F) once and writes every field from that ranking: ``answer`` and
``probability`` are ``top_k[0]``, the listed answers are distinct and their probabilities never rise down
the list nor add up past 1; ``heatmap`` is scaled to [0, 1] and each α map is a softmax over its cells. A
saved file (or one changed by hand) that breaks any of these would still draw, but a figure that says
something the model never said: an answer above a list that ranks another first, a heat map clipped flat at
1. Each is refused by name (:func:`saved._checked_fields` calls :func:`check_consistency`).
"""
import math

import numpy

TOLERANCE = 1e-6  # float64 softmax sums and float32 maps: rounding, never a contradiction


def check_consistency(path, fields, error):
    """Raise ``error`` (an ExplanationFileError) naming ``path`` and the first disagreement among ``fields``."""
    reason = _top_k_disagreement(fields) or _map_out_of_range(fields)
    if reason:
        raise error(f"{path}: {reason}; the file is corrupt or was changed by hand")


def _top_k_disagreement(fields):
    top_k = fields["top_k"]
    seen = set()  # a set, not answers[:i]: that was K²/2 comparisons, a second per check at MAX_TOP_K answers
    twice = next((answer for answer, _ in top_k if answer in seen or seen.add(answer)), None)
    if twice is not None:
        return f"top_k lists the answer {twice[:80]!r} twice"
    rises = next((i for i in range(1, len(top_k)) if top_k[i][1] > top_k[i - 1][1]), None)
    if rises is not None:
        return (f"top_k is not sorted most probable first ({top_k[rises][0][:80]!r} at {top_k[rises][1]:.6g} "
                f"comes after {top_k[rises - 1][0][:80]!r} at {top_k[rises - 1][1]:.6g})")
    first, p = top_k[0]
    if first != fields["answer"] or not math.isclose(p, fields["probability"], rel_tol=0, abs_tol=TOLERANCE):
        return (f"top_k[0] is {first[:80]!r} (p = {p:.6g}) but the answer is {fields['answer'][:80]!r} "
                f"(p = {fields['probability']:.6g})")
    total = math.fsum(p for _, p in top_k)
    if total > 1 + TOLERANCE:
        return f"top_k's probabilities add up to {total:.6g}, more than 1 (they are one softmax's)"
    return None


def _map_out_of_range(fields):
    for name, what in (("heatmap", "a magnitude scaled to [0, 1]"), ("alpha", "attention weights in [0, 1]")):
        values = numpy.asarray(fields[name], dtype=numpy.float64)
        low, high = values.min(), values.max()
        if low < -TOLERANCE or high > 1 + TOLERANCE:
            return f"{name} holds values from {low:.6g} to {high:.6g}, but it is {what}"
    return None
