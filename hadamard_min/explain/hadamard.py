"""Visual explanations from the Hadamard product (Kim & Zhang 2017): eq. 2-3, then post-processing eq. 9-11.

The Hadamard product F = Q ∘ V joins the question (Q) and the image (V). The explanation asks how far each
input is from the joint representation, carried back to the network's inputs:

    eq. 2   ∇v := (V − F) ∂V/∂I        I: the image fed to the ResNet (3, H, W, after normalisation)
    eq. 3   ∇q := (Q − F) ∂Q/∂q        q: the word vectors, rows of the lookup table (ρ, D)

Each is the gradient of a *deviation loss* in which F is held constant, F₀ = F.detach():

    L_v = ½ ‖V − F₀‖²    ⇒   ∂L_v/∂V = V − F₀,    ∂L_v/∂I = (V − F₀) ∂V/∂I = ∇v
    L_q = ½ ‖Q − F₀‖²    ⇒   ∂L_q/∂Q = Q − F₀,    ∂L_q/∂q = (Q − F₀) ∂Q/∂q = ∇q

Two backward passes over one forward graph, one per loss: V depends on q too (through the attention α),
so one pass over L_v + L_q would add ∂L_v/∂q into ∇q. ∇q is taken first (keeping the graph), then ∇v.
On the image side every ReLU of the ResNet passes back dy·[x > 0]·[dy > 0] (guided backprop); the
GRU, tanh and softmax take ordinary gradients (they have no ReLU). The model is frozen and in eval mode
meanwhile, so no parameter gradient is computed and examples of a batch do not interact: the losses sum
over the batch and each example's gradient comes from its own terms only.

Options:
  fix_f=False   the paper's ablation: F = Q ∘ V stays in the graph and the whole loss is differentiated,
                ∂L_v/∂V = (V − F) ∘ (1 − Q);  ∂L_q/∂Q = (Q − F) ∘ (1 − V), plus the path of
                ∂L_q/∂V = −(Q − F) ∘ Q through the attention back to q.
  sign="code"   the authors' code pushed F − V into V and F − Q into Q, the negative: the backward walk
                starts from −1 instead of 1. Plain gradients are simply negated; with guided backprop
                they are not (a ReLU passes only positive signals).
  guided=False  plain gradients through the ReLUs as well.
"""
import numpy

from hadamard_min.core.backend import to_numpy
from hadamard_min.data.text import tokenize
from hadamard_min.explain.framing import frame
from hadamard_min.explain.postprocess import gradient_heatmap, normalise_pixel_map, token_scores, token_z_scores
from hadamard_min.explain.result import Explanation
from hadamard_min.ops.relu import relu_rule
from hadamard_min.progress import in_chunks


# --------------------------------------------------------------------------- eq. 2-3
def deviation_gradients(out, I, q, fix_f=True, sign="paper", guided=True):
    """(∇v, ∇q) as arrays: ∂/∂I of ½‖V − F‖² (eq. 2) and ∂/∂q of ½‖Q − F‖² (eq. 3), F fixed or not.

    ``out`` is the model's output for the leaf tensors ``I`` (the images) and ``q`` (the word vectors).
    """
    Q, V = out.Q, out.V
    F = out.F.detach() if fix_f else out.F      # F held constant (the paper), or left in the graph (ablation)
    L_v = 0.5 * ((V - F) ** 2).sum()            # ½ ‖V − F‖², summed over the batch
    L_q = 0.5 * ((Q - F) ** 2).sum()            # ½ ‖Q − F‖²
    start = 1.0 if sign == "paper" else -1.0    # the authors' code pushed F − V: the walk starts at −1

    L_q.backward(start, retain_graph=True)      # eq. 3: ∇q = (Q − F) ∂Q/∂q   (graph kept for eq. 2)
    grad_q = q.grad
    I.grad = None                               # L_q reaches I only through a live F (fix_f=False)
    with relu_rule("guided" if guided else "gradient"):
        L_v.backward(start)                     # eq. 2: ∇v = (V − F) ∂V/∂I, guided at every ReLU
    return I.grad, grad_q


def explain_hadamard(model, images, questions, fix_f=True, sign="paper", guided=True, top_k=5, batch_size=64,
                     progress=None, fit=None):
    """The Hadamard explanation of each (image, question) pair, ``batch_size`` at a time; a list of
    :class:`Explanation`, in order (the arguments already checked by :func:`methods.explain_batch`).

    Each chunk is one forward and two backward passes (memory grows with ``batch_size``); examples do
    not interact, so the chunking does not change the result. Each image goes to the network's square as
    ``fit`` says (:mod:`explain.framing`); the Explanation keeps it as given.
    """
    results = []
    for part in in_chunks(len(questions), batch_size, "explain", progress):
        results += _explain_chunk(model, images[part], questions[part], fix_f, sign, guided, top_k, fit)
    return results


def _explain_chunk(model, images, questions, fix_f, sign, guided, top_k, fit):
    tokens = [tokenize(question) for question in questions]
    given, pixels, inputs, framings = zip(*(frame(model, image, fit) for image in images))
    with model.frozen():
        out, I, q, lengths = model.forward_from_leaves(numpy.stack(inputs), questions)  # I: images, q: words
        grad_v, grad_q = deviation_gradients(out, I, q, fix_f, sign, guided)
    grad_v, grad_q = to_numpy(grad_v), to_numpy(grad_q)
    probabilities, alpha = out.probabilities(), to_numpy(out.alpha.data)
    options = {"fix_f": fix_f, "sign": sign, "guided": guided, "top_k": top_k}
    results = []
    for b, question in enumerate(questions):
        ranked = numpy.argsort(-probabilities[b], kind="stable")[:top_k]
        scores = token_scores(grad_q[b, : lengths[b]])
        results.append(Explanation(
            question=question, tokens=tokens[b], answer=model.answers[ranked[0]],
            probability=float(probabilities[b, ranked[0]]),
            top_k=[(model.answers[k], float(probabilities[b, k])) for k in ranked],
            token_scores=scores, token_z=token_z_scores(scores), grad_v=grad_v[b],
            grad_q=grad_q[b, : lengths[b]], pixel_map=normalise_pixel_map(grad_v[b]),
            heatmap=gradient_heatmap(grad_v[b]), alpha=alpha[b], image=given[b],
            unknown_words=model.vocab.unknown_words(tokens[b]), options=dict(options), input_image=pixels[b],
            framing=framings[b]))
    return results
