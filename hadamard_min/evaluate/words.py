"""Where the token scores miss the named word: which word wins instead, and where it sits in the question.

Over questions that name a colour or a shape, a *miss* is one whose top-scoring token (ties: the first)
is not a named word. Per miss:

    last word     1 when the top token is the question's last token
    <class>       1 when the top token is of that word class (:data:`grounding.WORD_CLASSES`), "other" else

Why position matters for eq. 10-11: the GRU reads the words left to right, q_t = (1 − z_t) ∘ n_t + z_t ∘
q_{t−1}, and the question vector is its last state. ∂Q/∂x_t reaches word t through the N − t later steps,
each a product with z or with the candidate's Jacobian: a word read late has a short path to Q, an early
one a long, damped path. Σ_d |∇q| (eq. 10) inherits that tilt towards the end of the question whatever
the word means; the table shows how often the winner is the last word.
"""
from hadamard_min.evaluate.grounding import WORD_CLASSES


def top_word(scores):
    """Index of the first token with the highest score."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def word_class(token):
    return next((name for name, words in WORD_CLASSES.items() if token in words), "other")


def add_misses(values, name, tokens, scores, named):
    """Add, for every question that names a word and misses it, the position and class of the winner."""
    for t, s, n in zip(tokens, scores, named):
        if not n:
            continue
        top = top_word(list(s))
        values.add("named word missed", name, "missed", [float(top not in n)])
        if top in n:
            continue
        values.add("named word missed", name, "top is the last word", [float(top == len(t) - 1)])
        winner = word_class(t[top])
        for column in (*WORD_CLASSES, "other"):
            values.add("named word missed", name, f"top: {column}", [float(column == winner)])
