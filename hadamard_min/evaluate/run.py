"""Run every method and every metric over a seeded sample of test questions; the numbers as one dict.

Examples are processed in batches: each visual method makes its maps for the batch once, and every
metric reads those same maps (the random floor included), so the numbers of one method agree with each
other. Only the maps of the first few examples are kept, for the figure. The sanity check runs on the
first ``sanity_examples`` examples. Every random choice comes from a generator seeded by ``seed`` and
the purpose it serves, so a run is reproduced exactly by its seed.
"""
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy

from hadamard_min.data.easyvqa import background_mask
from hadamard_min.data.text import tokenize
from hadamard_min.evaluate import grounding, words
from hadamard_min.evaluate.counterfactual import referent_switch
from hadamard_min.evaluate.faithfulness import answer_probabilities, deletion_curves, text_deletion
from hadamard_min.evaluate.insertion import FULL_PERCENTS, add_deletion_insertion
from hadamard_min.evaluate.metrics import (
    DELETION_PERCENTS,
    bootstrap_ci,
    deletion_auc,
    magnitude,
    mask_share,
    mass_in_mask,
    pointing_game,
    spearman,
    token_rank,
    top_token_credit,
)
from hadamard_min.evaluate.sanity import cascade, sanity_check
from hadamard_min.explain.baselines import FLOORS, TEXT_METHODS, visual_methods
from hadamard_min.explain.postprocess import token_z_scores
from hadamard_min.parallel import map_chunks, worker_count
from hadamard_min.progress import Progress

DEFAULT_EXAMPLES = 300


class EvaluationError(ValueError):
    """The evaluation was asked for something it cannot do (no examples, say)."""


@dataclass
class EvaluationSettings:
    examples: int = DEFAULT_EXAMPLES
    seed: int = 0
    batch: int = 16
    sanity_examples: int = 32
    figure_examples: int = 4


def choose_examples(data, count, seed):
    """``count`` distinct question indices drawn at random (seeded) from ``data``, in drawn order."""
    if count < 1:
        raise EvaluationError(f"--examples must be at least 1, not {count}")
    rng = numpy.random.default_rng([seed, 1])
    return rng.choice(len(data), size=min(count, len(data)), replace=False)


def summarise(values, seed):
    """The bootstrap summary of per-example values, with the values themselves (the raw numbers)."""
    return {**bootstrap_ci(values, seed=seed), "values": [float(v) for v in values]}


class Values:
    """Per-example values, ``values[table][row][column] = [...]``, summarised with bootstrap intervals."""

    def __init__(self):
        self.values = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))

    def add(self, table, row, column, values):
        self.values[table][row][column].extend(float(v) for v in values)

    def plain(self):
        """The values as nested dicts (which a worker process can send back)."""
        return {table: {row: dict(columns) for row, columns in rows.items()} for table, rows in self.values.items()}

    def merge(self, plain):
        """Add the values of :meth:`plain` after these."""
        for table, rows in plain.items():
            for row, columns in rows.items():
                for column, values in columns.items():
                    self.add(table, row, column, values)

    def summary(self, seed):
        return {table: {row: {column: summarise(v, seed) for column, v in columns.items()}
                        for row, columns in rows.items()} for table, rows in self.values.items()}


def evaluate(model, data, settings=None, progress=None, workers=None):
    """Every metric of every method on ``settings.examples`` questions of ``data``.

    ``progress``: None shows a :class:`Progress` on stderr; a callable receives its lines instead
    (``lambda line: None`` for silence). ``workers``: the processes that share the batches
    (:mod:`hadamard_min.parallel`; None: every core from ``parallel.MIN_PARALLEL`` examples on); the numbers
    do not depend on it.

    Returns ``(results, figure)``: the numbers as a JSON-ready dict, and for the first few examples the
    image, question, answer and every method's map (arrays, for :func:`report.save_example_grid`).
    """
    settings = settings or EvaluationSettings()
    seed = settings.seed
    indices = choose_examples(data, settings.examples, seed)
    methods = visual_methods(model)
    two_shape = getattr(data, "referent", None) is not None
    partners = grounding.partner_questions(data, indices) if two_shape else None
    values, figure, curves, correct = Values(), [], defaultdict(list), []
    full_curves = defaultdict(lambda: defaultdict(list))
    workers = worker_count(workers, len(indices))
    starts = range(0, len(indices), settings.batch)
    job = (model, data, settings, indices, methods, partners)
    examples = Progress(len(indices), "examples", sink=progress)
    for first, part in zip(starts, map_chunks(evaluate_batch, job, starts, workers)):
        values.merge(part["values"])
        for name, rows in part["curves"].items():
            curves[name].extend(rows)
        for curve, rows in part["full_curves"].items():
            for name, curve_rows in rows.items():
                full_curves[curve][name].extend(curve_rows)
        correct += part["correct"]
        figure += part["figure"]
        examples.update(min(first + settings.batch, len(indices)))
    examples.close()
    add_paired_differences(values, "deletion", "auc", "random")
    if two_shape:
        referent_switch(model, data, methods, len(indices), seed, values)
        for baseline in ("hadamard", "attention α2"):
            if baseline in values.values["referent"]:
                add_paired_differences(values, "referent", "referent share", baseline)
    sanity_batch = [int(q) for q in indices[:settings.sanity_examples]]
    steps = Progress(len(cascade(model)), "sanity check", sink=progress)
    sanity = sanity_check(
        model, network_pixels(model, data, sanity_batch), [data.questions[q] for q in sanity_batch],
        {**{name: ("visual", f) for name, f in methods.items() if name not in FLOORS},
         **{f"text: {name}": ("text", f) for name, f in TEXT_METHODS.items() if name != "uniform"}},
        seed=seed, progress=lambda number, _, step: steps.update(number, randomised=step), workers=workers)
    steps.close()
    results = {
        "settings": {**asdict(settings), "data": getattr(data, "split", ""), "two_shape": two_shape,
                     "deletion_percents": list(DELETION_PERCENTS), "full_percents": list(FULL_PERCENTS)},
        "examples": [{"index": int(q), "question": data.questions[q], "answer": data.answers[q]}
                     for q in indices],
        "accuracy": bootstrap_ci(numpy.asarray(correct, dtype=float), seed=seed),
        "notes": notes(values, correct, {data.answers[q] for q in indices} - {None, *model.answers},
                       [model.vocab.unknown_words(tokenize(data.questions[q])) for q in indices], two_shape),
        "tables": values.summary(seed),
        "deletion_curves": {name: numpy.mean(c, axis=0).tolist() for name, c in curves.items()},
        "full_curves": {curve: {name: numpy.mean(c, axis=0).tolist() for name, c in rows.items()}
                        for curve, rows in full_curves.items()},
        "sanity": {"steps": sanity["steps"], "examples": len(sanity_batch),
                   "scores": {name: [summarise(step, seed) for step in per_step]
                              for name, per_step in sanity["scores"].items()}}}
    return results, figure


def evaluate_batch(job, first):
    """The metrics of the batch of examples that starts at ``first``, as plain data: ``{"values": …,
    "curves": …, "full_curves": …, "correct": …, "figure": …}``. Its random choices come from generators
    seeded by the seed, their purpose and ``first``, so a batch gives the same numbers in any process and in
    any order."""
    model, data, settings, indices, methods, partners = job
    rows = numpy.arange(first, min(first + settings.batch, len(indices)))
    rng_maps, rng_delete, rng_text, rng_full = (numpy.random.default_rng([settings.seed, k, first])
                                                for k in (2, 3, 4, 8))
    values, curves, full_curves = Values(), defaultdict(list), defaultdict(lambda: defaultdict(list))
    batch = [int(q) for q in indices[rows]]
    pixels, questions = network_pixels(model, data, batch), [data.questions[q] for q in batch]
    ids, lengths = model.encode_questions(questions)
    answers = [model.answers[a] for a in answer_probabilities(model, pixels, ids, lengths)[0]]
    correct = [answer == data.answers[q] for answer, q in zip(answers, batch) if data.answers[q] is not None]
    maps = visual_metrics(model, pixels, questions, object_masks(model, data, batch, pixels), methods,
                          rng_maps, rng_delete, values, curves)
    for name in methods:
        add_deletion_insertion(model, pixels, questions, maps[name], rng_full, values, name, full_curves)
    if partners is not None:
        for name, method in methods.items():
            question_dependence(model, data, batch, partners[rows], pixels, maps[name], method, rng_maps,
                                values, name)
    text_metrics(model, pixels, questions, rng_text, values)
    figure = [{"index": batch[i], "question": questions[i], "answer": answers[i], "image": pixels[i],
               "maps": {name: maps[name][i] for name in methods}}
              for i in range(max(0, min(settings.figure_examples - first, len(batch))))]
    return {"values": values.plain(), "curves": dict(curves), "correct": correct, "figure": figure,
            "full_curves": {curve: dict(rows) for curve, rows in full_curves.items()}}


def notes(values, correct, unknown=(), unseen=(), two_shape=True):
    """What the data did not allow, for the report: ``unknown`` answers (counted wrong), ``unseen`` words (<unk>)."""
    said = []
    if unknown:
        said.append(f"{len(unknown)} answer(s) of the data are none the model can give ({_named(unknown)}): the "
                    f"questions with them count as answered wrong")
    if any(unseen):
        said.append(f"{sum(map(bool, unseen))} of {len(unseen)} question(s) have words the model never saw, read "
                    f"as <unk> ({_named({w for words in unseen for w in words})}): each map explains it so read")
    if "pointing" not in values.values:
        said.append("no object masks: the pointing game and mass in mask are skipped")
    if not correct:
        said.append("no answers given: accuracy is not measured")
    if not two_shape:  # referent share, movement and switch: two shapes, a mask each, a question about either
        said.append("whether a map follows the question is not measured: that needs --data two-shape")
    return said


def _named(words):  # the first three, in order
    return ", ".join(repr(word[:40]) for word in sorted(words)[:3]) + (", …" if len(words) > 3 else "")


def network_pixels(model, data, questions):
    """uint8 (B, S, S, 3): the image of each question index as the network sees it; each image is read once
    (a folder's images are read from their files when asked for, :mod:`data.folder`)."""
    rows = [int(data.image_index[q]) for q in questions]
    seen = {row: model.prepare_image(data.images[row])[0] for row in dict.fromkeys(rows)}
    return numpy.stack([seen[row] for row in rows])


def object_masks(model, data, batch, pixels):
    """Each question's object mask at the network's size: the data's own (None where an image has none,
    :mod:`data.folder`), else the pixels that differ from the background (easy-VQA, two-shape)."""
    if not hasattr(data, "object_mask"):
        return [background_mask(image) for image in pixels]
    return [data.object_mask(q, model.image_size, model.crop) for q in batch]


def visual_metrics(model, pixels, questions, masks, methods, rng_maps, rng_delete, values, curves):
    """Pointing, mass, deletion and agreement with attention of every visual method on one batch.

    ``masks``: one object mask per example, or None where there is none (no pointing, no mass).
    Returns the maps, {method: (B, …)}.
    """
    masked = [b for b, mask in enumerate(masks) if mask is not None]
    for table in ("pointing", "mass") if masked else ():
        values.add(table, "(mask's share of the image)", "score", [mask_share(masks[b]) for b in masked])
    maps = {}
    for name, method in methods.items():
        maps[name] = method(model, pixels, questions, rng_maps)
        if masked:
            values.add("pointing", name, "score", [pointing_game(maps[name][b], masks[b]) for b in masked])
            values.add("mass", name, "score", [mass_in_mask(maps[name][b], masks[b]) for b in masked])
        p0, p = deletion_curves(model, pixels, questions, maps[name], rng_delete)
        curves[name].extend(numpy.c_[p0, p].tolist())
        values.add("deletion", name, "auc", [deletion_auc(pk, start=s) for s, pk in zip(p0, p)])
    for name in methods:
        values.add("attention agreement", name, "ρ_s with attention (mean)",
                   [spearman(magnitude(m), a) for m, a in zip(maps[name], maps["attention (mean)"])])
    return maps


def text_metrics(model, pixels, questions, rng, values):
    """Token grounding, negation rank and text deletion of every text method on one batch."""
    tokens = [tokenize(q) for q in questions]
    named = [grounding.named_word_positions(t) for t in tokens]
    negation = [grounding.negation_position(t) for t in tokens]
    for name, method in TEXT_METHODS.items():
        scores = method(model, pixels, questions, rng)
        for word_class in grounding.WORD_CLASSES:            # every class gets a column, in this order
            values.add("word classes", name, word_class, [])
        for t, s in zip(tokens, scores):
            for word_class, mean in grounding.class_means(t, token_z_scores(s)).items():
                values.add("word classes", name, word_class, [mean])
        values.add("tokens", name, "named word on top",
                   [top_token_credit(s, n) for s, n in zip(scores, named) if n])
        words.add_misses(values, name, tokens, scores, named)
        values.add("tokens", name, "rank of not/no",
                   [token_rank(s, k) for s, k in zip(scores, negation) if k is not None])
        to_unk, to_random = text_deletion(model, pixels, questions, scores, rng)
        values.add("text deletion", name, "top token → <unk>", to_unk)
        values.add("text deletion", name, "top token → random word", to_random)
    values.add("tokens", "(question length)", "rank of not/no",
               [len(t) for t, k in zip(tokens, negation) if k is not None])


def question_dependence(model, data, batch, partners, pixels, maps, method, rng, values, name):
    """Referent share and pointing (questions about one shape) and movement (pairs about the two shapes)."""
    for i, q in enumerate(batch):
        referent = int(data.referent[q])
        if referent < 0:
            continue
        masks = data.shape_masks[data.image_index[q]]
        masks = numpy.stack([grounding.fit_mask(m, *pixels.shape[1:3]) for m in masks])
        values.add("referent", name, "referent share", [grounding.referent_share(maps[i], masks, referent)])
        on_referent, on_other = grounding.referent_pointing(maps[i], masks, referent)
        values.add("referent", name, "pointing: referent", [on_referent])
        values.add("referent", name, "pointing: other", [on_other])
    paired = [i for i, p in enumerate(partners) if p >= 0]
    if paired:
        partner_maps = method(model, pixels[paired], [data.questions[partners[i]] for i in paired], rng)
        values.add("referent", name, "movement", [grounding.movement(maps[i], b)
                                                  for i, b in zip(paired, partner_maps)])


def add_paired_differences(values, table, column, baseline):
    """Per-example differences method − ``baseline`` as a new column "Δ vs <baseline>" (paired)."""
    rows = values.values[table]
    reference = numpy.asarray(rows[baseline][column])
    for name in list(rows):
        difference = numpy.asarray(rows[name][column]) - reference
        values.add(table, name, f"Δ vs {baseline}", difference)
