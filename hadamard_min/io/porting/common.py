"""What every port shares: the error class, the result type, and our GRU's parameters from gate blocks.

Our GRU (``models.question.GRU``) keeps PyTorch's layout, gate blocks stacked in the order [r | z | n]:

    weight_ih (3H, D) = [W_r; W_z; W_n]    bias_ih (3H) = [b_r; b_z; b_n]
    weight_hh (3H, H) = [U_r; U_z; U_n]    bias_hh (3H) = [c_r; c_z; c_n]

    r = σ(W_r x + b_r + U_r h + c_r)      z = σ(W_z x + b_z + U_z h + c_z)      h' = (1 − z) ∘ n + z ∘ h
    n = tanh(W_n x + b_n + r ∘ (U_n h + c_n))     candidate "reset_after"  (skip-thoughts, vqa.pytorch)
    n = tanh(W_n x + b_n + U_n (r ∘ h) + c_n)     candidate "reset_before" (Element-Research rnn, MLB.t7)

z is the *update* gate: z = 1 keeps the old state. Every published file ported here has no hidden-side
biases (c = 0).
"""
from dataclasses import dataclass

import numpy

from hadamard_min.data.text import Vocabulary
from hadamard_min.io.weights import WeightsError

UNKNOWN_WORDS = ("UNK", "<unk>")  # how the published vocabularies name the unknown word


class PortError(WeightsError):
    """A published weight, vocabulary or answer file does not have the documented layout."""


@dataclass
class PortedMLB:
    """A ported question encoder + MLB: its model settings, its arrays under our names, vocab and answers.

    ``config`` holds the keys of ``models.vqa.build_vqa_model``'s config that the file decides (sizes,
    GRU form, tanh options, pre/post-ReLU features); ``state`` the arrays named ``encoder.*`` and
    ``mlb.*`` as in a VQAModel's state_dict.
    """
    config: dict
    state: dict
    vocab: Vocabulary
    answers: list
    source: str


def float32(array):
    """``array`` as float32; a float64 beyond float32's range becomes inf without a warning on stderr (each port's
    arrays are loaded through ``check_finite``, which refuses it in one line)."""
    with numpy.errstate(over="ignore"):
        return numpy.ascontiguousarray(array, dtype=numpy.float32)


def gru_state(prefix, input_blocks, input_biases, hidden_blocks):
    """Our GRU's arrays under ``prefix`` from the (r, z, n) blocks; the hidden-side bias is zero."""
    hidden = hidden_blocks[0].shape[0]
    return {f"{prefix}weight_ih": float32(numpy.concatenate(input_blocks, axis=0)),
            f"{prefix}bias_ih": float32(numpy.concatenate(input_biases)),
            f"{prefix}weight_hh": float32(numpy.concatenate(hidden_blocks, axis=0)),
            f"{prefix}bias_hh": numpy.zeros(3 * hidden, dtype=numpy.float32)}


def check_shapes(expected, found, source, hint, allow_extra=False):
    """Refuse ``found`` (name -> array) unless every name in ``expected`` (name -> shape) is there, shaped so
    and real (``float32`` would drop a complex array's imaginary part with only a warning), and, unless
    ``allow_extra``, nothing else is."""
    missing = [name for name in expected if name not in found]
    extra = [] if allow_extra else [name for name in found if name not in expected]
    wrong = [f"{name}: expected {tuple(shape)}, found {tuple(found[name].shape)}"
             for name, shape in expected.items()
             if name in found and tuple(found[name].shape) != tuple(shape)]
    complex_ = [name for name in expected if name in found and found[name].dtype.kind == "c"]
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + wrong
    problems += [f"complex-valued {', '.join(complex_[:10])} (weights are real)"] if complex_ else []
    if extra:
        more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
        problems.append(f"unexpected {', '.join(extra[:10])}{more}")
    if problems:
        raise PortError(f"{source} does not have the documented layout: {'; '.join(problems)}; {hint}")


def check_sizes(sizes, source, hint):
    """Refuse a size (name -> value) that is not a whole number of at least 1: a layer of no units reads as
    a file of empty tensors, which every later step (a reshape, a 1/√H) meets with a traceback."""
    bad = [f"{name} {size!r}" for name, size in sizes.items()
           if isinstance(size, bool) or not isinstance(size, int | numpy.integer) or size < 1]
    if bad:
        raise PortError(f"{source}: every size must be a whole number of at least 1, found {', '.join(bad)}; {hint}")


def vocabulary_rows(words):
    """Our :class:`Vocabulary` for a published word list, and the table row each of our words comes from.

    Published tables put word id k (1-based, in list order) at row k and padding at row 0. Ours has
    ``<pad>`` at 0 and ``<unk>`` at 1, so the unknown word (``UNK``) moves to row 1 and the other words
    follow in their order. ``rows[i]`` is the published row of our word i (-1: no row, use zeros).
    """
    row_of = {word: k for k, word in enumerate(words, 1)}
    unknown = next((word for word in UNKNOWN_WORDS if word in row_of), None)
    vocab = Vocabulary([word for word in words if word != unknown])
    rows = [0, row_of.get(unknown, -1)] + [row_of[word] for word in vocab.words[2:]]
    return vocab, numpy.asarray(rows)


def table_in_vocab_order(table, rows):
    """Rows of the published ``table`` in our vocabulary's order (a zero vector where rows[i] = -1)."""
    reordered = float32(table[numpy.maximum(rows, 0)])
    reordered[rows < 0] = 0
    return reordered
