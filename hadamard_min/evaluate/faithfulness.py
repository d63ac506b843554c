"""Does the model's answer rest on what a map or token score points at? Delete it and watch the answer.

Pixels: for each k in 1 … 50 %, the top k % of pixels by the map (ties in a seeded random order) are set
to the background colour, and p(â | image_k, q) of the originally predicted answer â is read off; every
perturbed image of a batch goes through the network in one forward pass without a graph. The area under
p(k) (:func:`metrics.deletion_auc`) is small when the map found what the answer rests on; the random map
gives the floor.

Tokens: the top token by score (ties: a seeded random pick) is replaced by ``<unk>`` or by a random word
of the vocabulary, and the answer either changes or not. Uniform scores pick a random token: the floor.
"""
import numpy

from hadamard_min.core.function import no_grad
from hadamard_min.data.easyvqa import background_color
from hadamard_min.data.text import UNK_INDEX
from hadamard_min.evaluate.metrics import DELETION_PERCENTS, deleted_images, deletion_order
from hadamard_min.explain.baselines import network_inputs

FORWARD_CHUNK = 400  # images per forward pass


def answer_probabilities(model, images, ids, lengths, answers=None):
    """``(answers, p)``: â (B,) (the given ones, else the argmax) and p(â | image, question) (B,).

    Inference only: no graph, the model frozen, at most ``FORWARD_CHUNK`` images per forward pass.
    """
    probabilities = []
    with model.frozen(), no_grad():
        for start in range(0, len(images), FORWARD_CHUNK):
            part = slice(start, start + FORWARD_CHUNK)
            out = model(network_inputs(model, images[part]), ids[part], lengths[part])
            probabilities.append(out.probabilities())
    probabilities = numpy.concatenate(probabilities)
    answers = probabilities.argmax(axis=1) if answers is None else numpy.asarray(answers)
    return answers, probabilities[numpy.arange(len(answers)), answers]


def deletion_curves(model, images, questions, maps, rng, percents=DELETION_PERCENTS):
    """``(p0, p)``: p(â) on the untouched images (B,) and after deleting the top k % by each map (B, K).

    ``images`` uint8 (B, H, W, 3) at the network's input size, ``maps`` (B, H, W) or (B, 3, H, W).
    """
    ids, lengths = model.encode_questions(questions)
    answers, start = answer_probabilities(model, images, ids, lengths)
    perturbed = numpy.concatenate([
        deleted_images(image, deletion_order(saliency_map, rng), background_color(image), percents)
        for image, saliency_map in zip(images, maps)])
    repeat = len(percents)
    _, probabilities = answer_probabilities(model, perturbed, numpy.repeat(ids, repeat, axis=0),
                                            numpy.repeat(lengths, repeat), numpy.repeat(answers, repeat))
    return start, probabilities.reshape(len(images), repeat)


def top_token(scores, rng):
    """Index of the highest score; among tied scores a random one."""
    scores = numpy.asarray(scores, dtype=numpy.float64)
    return int(rng.choice(numpy.flatnonzero(scores == scores.max())))


def text_deletion(model, images, questions, token_scores, rng):
    """``(to_unk, to_random)``: 1.0 where the answer changes when the top token becomes ``<unk>`` / a word.

    The random word is drawn from the vocabulary's ordinary words (never the token it replaces).
    """
    ids, lengths = model.encode_questions(questions)
    rows = numpy.arange(len(questions))
    top = numpy.array([top_token(scores, rng) for scores in token_scores])
    to_unk, to_random = ids.copy(), ids.copy()
    to_unk[rows, top] = UNK_INDEX
    words = numpy.arange(UNK_INDEX + 1, len(model.vocab))
    to_random[rows, top] = [rng.choice(words[words != ids[b, top[b]]]) for b in rows]
    answers, _ = answer_probabilities(model, images, ids, lengths)
    changed = []
    for changed_ids in (to_unk, to_random):
        new_answers, _ = answer_probabilities(model, images, changed_ids, lengths)
        changed.append((new_answers != answers).astype(numpy.float64))
    return changed[0], changed[1]
