"""What the question says, and whether the explanation follows it: token targets and the two-shape scores.

Text. The paper reads its token z-scores by word class: nouns high; wh-words, verbs, adjectives and
articles low (:data:`WORD_CLASSES`, :func:`class_means`). A question that *names* a colour ("is there a
red shape?") or a shape ("what color is the circle?") has target tokens, the named words; a grounded
textual explanation gives one of them its top score (:func:`metrics.top_token_credit`). A negated
question ("is there not a blue shape?", "is no circle present?") turns on its "not"/"no": its rank
among the tokens (1 = top) tells whether the explanation sees it.

Two shapes. A two-shape question refers to one shape (``referent`` 0 or 1); a map that grounds the question
puts more of its mass on that shape than on the other:

    referent share   m(referent mask) / (m(referent mask) + m(other mask))      (0.5: no preference)
    pointing         share of the map's maximal pixels on the referent / on the other shape

and when only the question changes (the same template, about the other shape of the same image) the map
should move: movement = 1 − ρ_s(m_a, m_b), 0 for a map that stays where it was.
"""
import re

import numpy

from hadamard_min.data.easyvqa import COLORS
from hadamard_min.data.text import tokenize
from hadamard_min.data.twoshape import SHAPES
from hadamard_min.evaluate.metrics import magnitude, spearman
from hadamard_min.explain.maps import upsample_nearest

NAMED_WORDS = frozenset(COLORS) | frozenset(SHAPES)
NEGATIONS = frozenset({"not", "no"})
WORD_CLASSES = {  # the paper's reading: nouns high; wh-words, verbs, adjectives and articles low
    "shape nouns": frozenset(SHAPES),
    "other nouns": frozenset({"shape", "image", "color"}),
    "colour adjectives": frozenset(COLORS),
    "wh-words": frozenset({"what"}),
    "verbs": frozenset({"is", "does", "contain"}),
    "articles": frozenset({"a", "the"}),
    "negations": NEGATIONS,
}


def named_word_positions(tokens):
    """Indices of the tokens that name a colour or a shape (the targets of token grounding)."""
    return [i for i, token in enumerate(tokens) if token in NAMED_WORDS]


def negation_position(tokens):
    """Index of the first "not"/"no" token, or None for a question without negation."""
    return next((i for i, token in enumerate(tokens) if token in NEGATIONS), None)


def class_means(tokens, z):
    """{word class: mean z of the question's tokens of that class}, for the classes the question has."""
    z = numpy.asarray(z, dtype=numpy.float64)
    means = {}
    for name, words in WORD_CLASSES.items():
        members = [i for i, token in enumerate(tokens) if token in words]
        if members:
            means[name] = float(z[members].mean())
    return means


def fit_mask(mask, height, width):
    """A mask at the network's input size (nearest neighbour when the data's size differs)."""
    return mask if mask.shape == (height, width) else upsample_nearest(mask, height, width)


def referent_mass(saliency_map, shape_masks, referent):
    """``(mass on the referent, mass on the other shape)`` of m = Σ_c |map| (not normalised)."""
    m = magnitude(saliency_map)
    masks = numpy.asarray(shape_masks, dtype=bool)
    return float(m[masks[referent]].sum()), float(m[masks[1 - referent]].sum())


def referent_share(saliency_map, shape_masks, referent):
    """m(referent) / (m(referent) + m(other)); 0.5 when neither shape gets any mass."""
    on_referent, on_other = referent_mass(saliency_map, shape_masks, referent)
    total = on_referent + on_other
    return on_referent / total if total > 0 else 0.5


def referent_pointing(saliency_map, shape_masks, referent):
    """``(on the referent, on the other)``: shares of the maximal pixels of m on each shape (ties share)."""
    m = magnitude(saliency_map)
    peaks = m == m.max()
    masks = numpy.asarray(shape_masks, dtype=bool)
    return float(masks[referent][peaks].mean()), float(masks[1 - referent][peaks].mean())


def movement(map_a, map_b):
    """1 − ρ_s(Σ_c|map_a|, Σ_c|map_b|): 0 when the two maps rank the pixels alike, up to 2 when reversed.

    Two constant maps did not move (0); one constant and one not has no rank correlation (NaN).
    """
    m_a, m_b = magnitude(map_a), magnitude(map_b)
    if numpy.ptp(m_a) == 0 and numpy.ptp(m_b) == 0:
        return 0.0
    return 1.0 - spearman(m_a, m_b)


def template(question):
    """The question with colour and shape names blanked: "what color is the {}?"-style, for pairing."""
    words = [("{}" if token in NAMED_WORDS else token) for token in tokenize(question)]
    return re.sub(r"\s+", " ", " ".join(words))


def partner_questions(data, indices):
    """For each question index, the first question about the *other* shape of the same image with the same
    template (−1 where there is none, e.g. a question about no shape)."""
    by_key = {}
    for q, (row, ref) in enumerate(zip(data.image_index, data.referent)):
        if ref >= 0:
            by_key.setdefault((int(row), template(data.questions[q]), int(ref)), q)
    partners = []
    for q in indices:
        ref = int(data.referent[q])
        key = (int(data.image_index[q]), template(data.questions[q]), 1 - ref)
        partners.append(by_key.get(key, -1) if ref >= 0 else -1)
    return numpy.asarray(partners, dtype=numpy.int64)
