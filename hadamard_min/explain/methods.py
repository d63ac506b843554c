"""The explanation methods a user can pick (``hadamard-explain --method``), each giving :class:`Explanation`s.

    method      the map (heatmap panel)                  tokens                      explains
    hadamard    ∇v = (V − F) ∂V/∂I, guided (eq. 2, 9)     z of Σ_d |∇q| (eq. 3, 10-11)  the joint F = Q ∘ V
    guided      ∂y/∂I, guided ReLUs                       z of Σ_d |∂y/∂q|              y = logit of an answer
    saliency    ∂y/∂I                                     z of Σ_d |∂y/∂q|              y = logit of an answer
    gradcam     ReLU(Σ_k w_k A_k), w_k = mean ∂y/∂A_k      z of Σ_d |∂y/∂q|              y = logit of an answer
    grounded    Σ_c |∇v^α| ∘ ᾱ (∇v with α held, × mean α)  z of Σ_d |∇q| (eq. 10-11)  the joint F = Q ∘ V
    attention   the mean of the α_g (eq. 4)               none (grey, n/a)             —

The gradient methods explain the model's top answer, or the answer named by ``answer=``; the Hadamard
explanation, the grounded map (:mod:`explain.grounded`) and attention depend on no answer, so they take
none. The maps are those of
:mod:`explain.baselines` (where the evaluation compares them); the heat-map is |map| summed over colour
channels and scaled to [0, 1], the RGB panel the standardised gradient (eq. 9) where there is one.
"""
import difflib

import numpy

from hadamard_min.core.backend import to_numpy
from hadamard_min.core.function import no_grad
from hadamard_min.data.images import ImageError
from hadamard_min.data.text import QuestionError, tokenize
from hadamard_min.explain import baselines
from hadamard_min.explain.arguments import (
    METHODS,
    ExplainArgumentError,
    check_image,
    check_model,
    check_options,
    check_pairs,
    check_question,
    shown,
)
from hadamard_min.explain.framing import check_fit, frame
from hadamard_min.explain.grounded import grounded_gradients, grounded_maps
from hadamard_min.explain.hadamard import explain_hadamard
from hadamard_min.explain.postprocess import gradient_heatmap, normalise_pixel_map, token_scores, token_z_scores
from hadamard_min.explain.result import Explanation
from hadamard_min.parallel import map_chunks, worker_count
from hadamard_min.progress import in_chunks

ANSWER_METHODS = ("guided", "saliency", "gradcam")  # the methods that explain one answer's logit
HADAMARD_OPTIONS = ("fix_f", "sign", "guided")       # explain_batch's options, for the hadamard method only
KEYWORDS = ("method", "answer", "top_k", "batch_size", "progress", "fit", "workers")  # explain_batch's own


class MethodError(ExplainArgumentError):
    """An unknown method, or an answer given to a method that explains none (a user error)."""


def explain_batch(model, images, questions, method="hadamard", answer=None, top_k=5, batch_size=64, progress=None,
                  fit=None, workers=1, **options):
    """Explain each (image, question) pair with ``method``; a list of :class:`Explanation`, in order.

    ``images``: paths, PIL images or uint8 arrays, one per question (any size: each is brought to the
    network's square as ``fit`` says, "stretch", "pad" or "crop", default the model's own, and kept as
    given; :mod:`explain.framing`). ``answer``: for a gradient method, the answer to explain (a string of
    ``model.answers``), one for every pair or a list with one per pair; default the model's own.
    ``options``: ``fix_f``, ``sign`` and ``guided`` of the Hadamard explanation (hadamard only).
    ``top_k``: the most probable answers listed (at most all of them). ``batch_size`` pairs go through the network
    at a time; ``progress``: a bar on stderr when there is more than one chunk (None), always (True) or never
    (False). A question without words or longer than the model reads raises ``text.QuestionError``, an image that
    cannot be read ``images.ImageError``, each led by its place among several pairs (``questions[k]: …``,
    ``images[k]: …``); unknown words are read as ``<unk>`` and listed in ``Explanation.unknown_words``. Arguments it
    cannot use raise ``arguments.ExplainArgumentError`` (:class:`MethodError` is one). ``workers``: the processes
    that share the chunks (:mod:`hadamard_min.parallel`; default 1, as a notebook's kernel has threads of its own
    that a fork does not copy; 2 took 0.71–0.83 s against 0.89–1.16 s for 512 pairs of the shipped model on 2 cores;
    None: every core from ``parallel.MIN_PARALLEL`` pairs on, the commands' rule); the results do not depend on it.
    """
    check_model(model)
    images, questions = check_pairs(images, questions)
    answers = check_method(model, method, answer, options, len(questions))
    check_options(top_k, batch_size, progress, workers=workers, **options)
    check_fit(fit)
    # as plain Python values (a NumPy int or bool would not save as JSON), top_k no more than the answers
    top_k = min(int(top_k), len(model.answers))
    options = {name: bool(value) if isinstance(value, numpy.bool_) else value for name, value in options.items()}
    count = len(questions)
    chunks = [(part.start, images[part], questions[part], answers[part])
              for part in in_chunks(count, batch_size, "", False)]
    explained = map_chunks(_explain_chunk, (model, method, top_k, fit, options, count > 1), chunks,
                           worker_count(workers, count))
    results = []
    for _, chunk in zip(in_chunks(count, batch_size, "explain", progress), explained):
        results += chunk
    return results


def explain(model, image, question, method="hadamard", answer=None, top_k=5, fit=None, **options):
    """Explain the model's answer to ``question`` about ``image`` with ``method``: one :class:`Explanation`.

    The same arguments as :func:`explain_batch` for one pair, e.g.
    ``explain(model, image, question, method="gradcam", answer="no")``.
    """
    check_model(model)
    check_image(image)
    check_question(question)
    return explain_batch(model, [image], [question], method=method, answer=answer, top_k=top_k, fit=fit,
                         **options)[0]


def check_method(model, method, answer, options, count=1):
    """The answer to explain for each of ``count`` pairs (a list; None: the model's own); :class:`MethodError`
    for an unknown method, answer or option."""
    if not isinstance(method, str) or method not in METHODS:
        raise MethodError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    answers = list(answer) if isinstance(answer, (list, tuple)) else [answer] * count
    if isinstance(answer, (list, tuple)) and len(answers) != count:
        raise MethodError(f"answer: {len(answers)} answers for {count} pairs; give one answer, or one per pair")
    for given in answers:
        if not isinstance(given, str) and (given is not None or isinstance(answer, (list, tuple))):
            raise MethodError(f"answer must be None, a string of model.answers or a list of them, not {shown(answer)}")
    if answer is not None and method not in ANSWER_METHODS:
        raise MethodError(f"answer (--answer) names the answer a gradient method explains "
                          f"({', '.join(ANSWER_METHODS)}); "
                          f"{method} explains no particular answer")
    for given in answers:
        if given is not None and given not in model.answers:
            listed = ", ".join(model.answers[:20]) + (", …" if len(model.answers) > 20 else "")
            raise MethodError(f"the model has no answer {given!r}; its answers: {listed}")
    unknown = sorted(set(options) - set(HADAMARD_OPTIONS))
    if unknown:  # a keyword misspelt (methd=, topk=) lands here: named with the keyword it is closest to
        close = difflib.get_close_matches(unknown[0], KEYWORDS + HADAMARD_OPTIONS, 1)
        raise MethodError(f"unknown option {', '.join(unknown)}{f' (did you mean {close[0]}?)' if close else ''}: "
                          f"the keywords are {', '.join(KEYWORDS)} and, for the hadamard method, "
                          f"{', '.join(HADAMARD_OPTIONS)}")
    if options and method != "hadamard":
        raise MethodError(f"{', '.join(sorted(options))}: only for the hadamard method, not for {method}")
    return answers


def _explain_chunk(job, chunk):
    """The explanations of one chunk ``(first pair, images, questions, answers)``: one forward and backward pass.
    An image or question that cannot be read is named by its place in the batch (``many``: more than one pair)."""
    model, method, top_k, fit, options, many = job
    first, images, questions, answers = chunk
    try:
        if method == "hadamard":
            return explain_hadamard(model, images, questions, top_k=top_k, batch_size=len(questions),
                                    progress=False, fit=fit, **options)
        return _baseline(model, [frame(model, image, fit) for image in images], list(questions), method, answers,
                         top_k)
    except (ImageError, QuestionError) as error:
        if not many:
            raise
        raise _placed(error, model, fit, first, images, questions) from None


def _placed(error, model, fit, first, images, questions):
    """``error`` of a chunk, led by the place of the pair that raises it alone: ``images[k]: …`` or
    ``questions[k]: …`` (each image or question read again: on this path only); unchanged where none does.
    Only pairs of ``error``'s kind are read, and only the same error names one: a chunk reads its questions
    before its images or after them, by method, so the first pair that fails alone may fail otherwise."""
    kind, name = (ImageError, "images") if isinstance(error, ImageError) else (QuestionError, "questions")
    for k, given in enumerate(images if kind is ImageError else questions, start=first):
        try:
            frame(model, given, fit) if kind is ImageError else model.encode_questions([given])
        except kind as alone:
            if str(alone) == str(error):
                return kind(f"{name}[{k}]: {alone}")
    return error


def _baseline(model, framed, questions, method, answers, top_k):
    """Explanations of one chunk by a baseline: one forward (and for gradients one backward) pass."""
    given, pixels, _, framings = zip(*framed)
    lengths = model.encode_questions(questions)[1]
    if method == "attention":
        probabilities, alpha = _forward(model, pixels, questions)
        heat = [_unit(m) for m in baselines.upsample(alpha.mean(axis=1), *pixels[0].shape[:2])]
        grads, words, targets = [None] * len(pixels), [None] * len(pixels), [None] * len(pixels)
        scores = [numpy.full(n, numpy.nan) for n in lengths]
    elif method == "grounded":
        g = grounded_gradients(model, baselines.network_inputs(model, pixels), questions)
        probabilities, alpha, targets = g.probabilities, g.alpha, [None] * len(pixels)
        words, grads = [g.words[b, :n] for b, n in enumerate(lengths)], list(g.image)
        scores = [token_scores(w) for w in words]
        heat = [_unit(m) for m in grounded_maps(g.image, g.alpha)]
    else:
        chosen = None if answers[0] is None else [model.answers.index(a) for a in answers]
        g = baselines.answer_gradients(model, pixels, questions, "guided" if method == "guided" else "gradient",
                                       chosen)
        probabilities, alpha, targets = g.probabilities, g.alpha, [model.answers[a] for a in g.answers]
        words = [g.words[b, :n] for b, n in enumerate(lengths)]
        scores = [token_scores(w) for w in words]
        grads = [None] * len(pixels) if method == "gradcam" else list(g.image)
        heat = [_unit(m) for m in baselines.grad_cam_of(g)] if method == "gradcam" else \
            [gradient_heatmap(grad) for grad in grads]
    results = []
    for b, question in enumerate(questions):
        ranked = numpy.argsort(-probabilities[b], kind="stable")[:top_k]
        tokens = tokenize(question)
        z = scores[b] if method == "attention" else token_z_scores(scores[b])
        results.append(Explanation(
            question=question, tokens=tokens, answer=model.answers[ranked[0]],
            probability=float(probabilities[b, ranked[0]]),
            top_k=[(model.answers[k], float(probabilities[b, k])) for k in ranked], token_scores=scores[b],
            token_z=z, grad_v=grads[b], grad_q=words[b],
            pixel_map=None if grads[b] is None else normalise_pixel_map(grads[b]), heatmap=heat[b],
            alpha=alpha[b], image=given[b], unknown_words=model.vocab.unknown_words(tokens),
            options={"top_k": top_k}, method=method, target=targets[b], input_image=pixels[b],
            framing=framings[b]))
    return results


def _forward(model, pixels, questions):
    """p(a | q, F) (B, K) and α (B, G, S, S) from one forward pass without a graph."""
    ids, lengths = model.encode_questions(questions)
    with model.frozen(), no_grad():
        out = model(baselines.network_inputs(model, pixels), ids, lengths)
    return out.probabilities(), to_numpy(out.alpha.data).astype(numpy.float64)


def _unit(values):
    """A non-negative map scaled so its maximum is 1 (a zero map stays zero)."""
    peak = values.max()
    return values / peak if peak > 0 else values
