"""The Hadamard explanation and the methods it is measured against, all on one model, one input, one format.

Every *visual* method is ``method(model, images, questions, rng) -> maps``: ``images`` uint8 (B, H, W, 3),
one question string per image, ``maps`` a float64 array (B, H, W) or (B, 3, H, W) at the network's input
size. Every *text* method returns one float64 score array (ρ_b,) per question, one score per token.
The gradient methods explain the model's own answer â = argmax_a p(a | q, F) (eq. 8), or the answer
indices given as ``answers=`` (one per question), and take y = the logit of â (P_oᵀ F)_â, summed over
the batch (the model is frozen, so examples do not interact):

    saliency          ∂y/∂I                                        (Simonyan et al. 2014)
    guided backprop   ∂y/∂I with every ReLU passing dy·[x > 0]·[dy > 0]   (Springenberg et al. 2015)
    Grad-CAM          ReLU(Σ_k w_k A_k),  w_k = mean_{i,j} ∂y/∂A_k(i,j),  A = the backbone's last map
                      (Selvaraju et al. 2017), upsampled bilinearly to H × W (as Grad-CAM's authors)
    attention         α_g (eq. 4) upsampled nearest to H × W, each glimpse and their mean
    hadamard          ∇v of eq. 2 from :func:`explain_hadamard`: F fixed and guided (the paper), F not fixed,
                      or plain gradients through the ReLUs
    grounded          Σ_c |∇v^α| ∘ ᾱ: ∇v with α held, times the mean attention (:mod:`explain.grounded`);
                      and its alternatives: the last glimpse's α, α not held (|∇v| ∘ ᾱ), ∇v^α alone
    floors            a uniform random map (seeded) and a centred Gaussian blob: maps that know nothing

    text: hadamard    z-scores of Σ_d |∇q(i,d)| (eq. 10-11)
          gradient    Σ_d |∂y/∂q(i,d)|                gradient × input   |Σ_d q(i,d) ∂y/∂q(i,d)|
          uniform     the same score for every token (the floor)
"""
from dataclasses import dataclass

import numpy

from hadamard_min.core.backend import to_device, to_numpy
from hadamard_min.core.function import no_grad
from hadamard_min.explain.framing import Framing, to_image
from hadamard_min.explain.grounded import grounded_gradients, grounded_maps
from hadamard_min.explain.hadamard import explain_hadamard
from hadamard_min.explain.maps import upsample_nearest
from hadamard_min.ops.relu import relu_rule


@dataclass
class AnswerGradients:
    """One forward pass and one backward pass of y = Σ_b logit(b, â_b); NumPy arrays."""
    answers: object        # int (B,)       â per question
    image: object          # (B, 3, H, W)   ∂y/∂I
    words: object          # (B, T, D)      ∂y/∂q at the word vectors
    word_vectors: object   # (B, T, D)      q
    features: object       # (B, M, S, S)   A, the backbone's last map
    feature_grad: object   # (B, M, S, S)   ∂y/∂A
    lengths: object        # int (B,)
    probabilities: object  # (B, K)         p(a | q, F) of eq. 7
    alpha: object          # (B, G, S, S)   α of eq. 4


def chosen_answers(model, answers, count):
    """``answers`` as an int array (B,) of valid indices into ``model.answers``; ValueError otherwise."""
    answers = numpy.asarray(answers)
    if answers.shape != (count,) or answers.dtype.kind not in "iu":
        raise ValueError(f"answers must be {count} integer indices, one per question, got {answers!r}")
    if answers.size and (answers.min() < 0 or answers.max() >= len(model.answers)):
        raise ValueError(f"answer indices must lie in 0 … {len(model.answers) - 1}, got {answers.tolist()}")
    return answers.astype(numpy.int64)


def network_inputs(model, images):
    """The normalised float network input (B, 3, S, S) of uint8 images, as :meth:`VQAModel.prepare_image`."""
    return numpy.stack([model.prepare_image(image)[1] for image in images])


def answer_gradients(model, images, questions, rule="gradient", answers=None):
    """∂y/∂I, ∂y/∂q and ∂y/∂A for y = Σ_b logit(b, â_b), with ReLUs passing back by ``rule``.

    â_b is the model's answer, or ``answers[b]`` (an index into ``model.answers``) when given.
    """
    with model.frozen():
        out, image, words, lengths = model.forward_from_leaves(network_inputs(model, images), questions)
        out.features.retain_grad()
        logits = to_numpy(out.logits.data)
        answers = logits.argmax(axis=1) if answers is None else chosen_answers(model, answers, len(logits))
        seed = numpy.zeros_like(logits)
        seed[numpy.arange(len(answers)), answers] = 1.0          # dy/dlogits: one at â, zero elsewhere
        with relu_rule(rule):
            out.logits.backward(to_device(seed))
    return AnswerGradients(answers=answers, image=to_numpy(image.grad).astype(numpy.float64),
                           words=to_numpy(words.grad).astype(numpy.float64),
                           word_vectors=to_numpy(words.data).astype(numpy.float64),
                           features=to_numpy(out.features.data).astype(numpy.float64),
                           feature_grad=to_numpy(out.features.grad).astype(numpy.float64), lengths=lengths,
                           probabilities=out.probabilities(), alpha=to_numpy(out.alpha.data).astype(numpy.float64))


def upsample(grids, height, width):
    """(B, S, S) → (B, height, width), nearest neighbour (each cell a block)."""
    return numpy.stack([upsample_nearest(grid, height, width) for grid in grids]).astype(numpy.float64)


def input_size(model, images):
    return model.prepare_image(images[0])[0].shape[:2]


# ------------------------------------------------------------------------------------------ visual
def saliency(model, images, questions, rng=None, answers=None):
    """∂y/∂I (B, 3, H, W): the plain gradient of the answer logit at the pixels."""
    return answer_gradients(model, images, questions, "gradient", answers).image


def guided_backprop(model, images, questions, rng=None, answers=None):
    """∂y/∂I with guided ReLUs (B, 3, H, W)."""
    return answer_gradients(model, images, questions, "guided", answers).image


def grad_cam(model, images, questions, rng=None, answers=None):
    """ReLU(Σ_k w_k A_k) with w_k = mean_{i,j} ∂y/∂A_k(i,j), upsampled to (B, H, W)."""
    return grad_cam_of(answer_gradients(model, images, questions, "gradient", answers))


def grad_cam_of(g):
    """Grad-CAM (B, H, W) from the :class:`AnswerGradients` of one backward pass."""
    weights = g.feature_grad.mean(axis=(2, 3))                                 # w (B, M)
    cam = numpy.maximum(numpy.einsum("bm,bmij->bij", weights, g.features), 0.0)
    return to_image(cam, Framing.whole(*g.image.shape[2:]), dtype=numpy.float64)  # bilinear, (B, H, W)


def attention_maps(model, images, questions):
    """α (B, G, S, S) of eq. 4, from a forward pass without graph."""
    ids, lengths = model.encode_questions(questions)
    with model.frozen(), no_grad():
        out = model(network_inputs(model, images), ids, lengths)
    return to_numpy(out.alpha.data).astype(numpy.float64)


def attention_glimpse(glimpse):
    """The visual method "α_g upsampled" for one glimpse g (0-based)."""
    def method(model, images, questions, rng=None):
        alpha = attention_maps(model, images, questions)
        return upsample(alpha[:, glimpse], *input_size(model, images))
    method.__doc__ = f"α_{glimpse + 1} of eq. 4 upsampled to (B, H, W)."
    return method


def attention_mean(model, images, questions, rng=None):
    """(1/G) Σ_g α_g upsampled to (B, H, W)."""
    alpha = attention_maps(model, images, questions)
    return upsample(alpha.mean(axis=1), *input_size(model, images))


def hadamard_variant(fix_f=True, guided=True):
    """The visual method ∇v of eq. 2 (B, 3, H, W) with the given options of :func:`explain_hadamard`."""
    def method(model, images, questions, rng=None):
        explanations = explain_hadamard(model, list(images), questions, fix_f=fix_f, guided=guided)
        return numpy.stack([e.grad_v for e in explanations]).astype(numpy.float64)
    method.__doc__ = f"∇v of eq. 2 with fix_f={fix_f}, guided={guided}, (B, 3, H, W)."
    return method


def grounded_variant(hold_alpha=True, glimpse=None, weighted=True):
    """The visual method Σ_c |∇v^α| ∘ α↑ (B, H, W), or ∇v^α itself (B, 3, H, W) when not ``weighted``."""
    def method(model, images, questions, rng=None):
        g = grounded_gradients(model, network_inputs(model, images), questions, hold_alpha)
        return grounded_maps(g.image, g.alpha, glimpse) if weighted else g.image
    method.__doc__ = f"grounded map, α held={hold_alpha}, glimpse={glimpse}, weighted by α={weighted}."
    return method


def random_map(model, images, questions, rng):
    """Uniform noise in [0, 1) (B, H, W) from ``rng``: the floor every method should beat."""
    return rng.random((len(images), *input_size(model, images)))


def centre_blob(model, images, questions, rng=None):
    """exp(−d² / 2σ²) around the image centre, σ = min(H, W) / 6 (B, H, W): the same map for every input."""
    height, width = input_size(model, images)
    y, x = numpy.mgrid[:height, :width]
    sigma = min(height, width) / 6
    blob = numpy.exp(-((y - (height - 1) / 2) ** 2 + (x - (width - 1) / 2) ** 2) / (2 * sigma ** 2))
    return numpy.repeat(blob[None], len(images), axis=0)


VISUAL_METHODS = {
    "hadamard": hadamard_variant(fix_f=True, guided=True),
    "hadamard, F not fixed": hadamard_variant(fix_f=False, guided=True),
    "hadamard, not guided": hadamard_variant(fix_f=True, guided=False),
    "attention (mean)": attention_mean,
    "grounded": grounded_variant(),
    "grounded, last glimpse": grounded_variant(glimpse=-1),
    "grounded, α not held": grounded_variant(hold_alpha=False),
    "∇v with α held": grounded_variant(weighted=False),
    "saliency": saliency,
    "guided backprop": guided_backprop,
    "grad-cam": grad_cam,
    "random": random_map,
    "centre blob": centre_blob,
}
FLOORS = ("random", "centre blob")


def visual_methods(model):
    """The registry for ``model``: :data:`VISUAL_METHODS` and, before their mean, each "attention α_g"."""
    methods = {}
    for name, method in VISUAL_METHODS.items():
        if name == "attention (mean)":
            methods.update((f"attention α{g + 1}", attention_glimpse(g)) for g in range(model.mlb.glimpses))
        methods[name] = method
    return methods


# ------------------------------------------------------------------------------------------ text
def hadamard_tokens(model, images, questions, rng=None):
    """z-scores of eq. 11 per question (ρ_b,)."""
    return [numpy.asarray(e.token_z, dtype=numpy.float64)
            for e in explain_hadamard(model, list(images), questions)]


def gradient_tokens(model, images, questions, rng=None):
    """Σ_d |∂y/∂q(i,d)| per token (ρ_b,)."""
    g = answer_gradients(model, images, questions)
    return [numpy.abs(g.words[b, :n]).sum(axis=1) for b, n in enumerate(g.lengths)]


def gradient_times_input(model, images, questions, rng=None):
    """|Σ_d q(i,d) ∂y/∂q(i,d)| per token (ρ_b,): the first-order change of y when token i is zeroed."""
    g = answer_gradients(model, images, questions)
    return [numpy.abs((g.words[b, :n] * g.word_vectors[b, :n]).sum(axis=1)) for b, n in enumerate(g.lengths)]


def uniform_tokens(model, images, questions, rng=None):
    """The same score for every token (ρ_b,): ties everywhere, so any top-token pick is a random one."""
    _, lengths = model.encode_questions(questions)
    return [numpy.zeros(n) for n in lengths]


TEXT_METHODS = {
    "hadamard": hadamard_tokens,
    "gradient": gradient_tokens,
    "gradient × input": gradient_times_input,
    "uniform": uniform_tokens,
}
