"""Port the original Torch7 MLB (jnhwkim/MulLowBiVQA) and its skip-thoughts start (lookup_2k.t7, gru.t7).

``MLB.t7`` is what ``train.lua`` saves: ``w`` of ``w, dw = model:getParameters()``, one flat float vector
holding every parameter of the whole model in ``model:parameters()`` order, each one row-major. The
model is ``Sequential{ParallelTable{lookup → GRU → last state, Identity}, netdef.MLB}``, so with V words,
D word size (620), N GRU size (2400), M visual channels (2048), C common embedding size (1200), G glimpses
(2) and K answers (2000) the vector is, in order:

    lookup.weight (V+1, D)                         LookupTableMaskZero: row 0 padding, row k word id k
    gru W_r (N, D), b_r (N), W_z (N, D), b_z (N)   Bayesian GRU (rnn's nn.GRU with p = 0.25): i2g, per gate
    gru U_r (N, N), U_z (N, N)                     o2g, LinearNoBias per gate
    gru W_x (N, D), b_x (N), U_x (N, N)            the candidate's input map and its LinearNoBias
    linear_q_att (C, N) + (C)                      attention, question side
    conv_v_att (C, M) + (C)                        attention, image side (a Linear per location)
    conv_att (G, C, 1, 1) + (G)                    1×1 convolution to the G attention maps
    linear_q_fusion (G·C, N) + (G·C)               Q = tanh(W_q q)
    list_linear_v_fusion.g (C, M) + (C), g < G     glimpse g of V
    linear_classif (K, G·C) + (K)                  classifier

Q's map comes before the glimpses' maps: in netdef/MLB.lua the ConcatTable
that builds Q and V adds the question branch first.

The GRU is Element-Research ``rnn``'s GRU.lua: gates = σ(i2g(x) + o2g(h)) split [r | z],
candidate n = tanh(W_x x + b_x + U_x (r ∘ h)) and h' = (1 − z) ∘ n + z ∘ h, our "reset_before" form
(``SAdd(-1, true)`` makes 1 − z). Its plain form (p = 0, as in ``gru.t7``) has six parameters,
W_{r,z} (2N, D), b_{r,z} (2N), U_{r,z} (2N, N), W_x, b_x, U_x, split by ``GRU:migrate`` into the nine above.

Questions were right-aligned with zero padding in front and ``trimZero`` kept the state at zero there,
which equals our left-aligned questions with lengths. The MLB saw pre-ReLU ResNet features; it has no
tanh after the attention product and none before the classifier.
"""
from math import prod

import numpy

from hadamard_min.io.porting.common import (
    PortedMLB,
    PortError,
    check_shapes,
    check_sizes,
    float32,
    gru_state,
    table_in_vocab_order,
    vocabulary_rows,
)
from hadamard_min.io.porting.index_files import read_names
from hadamard_min.io.porting.torch7 import TorchObject, module_parameters, read_t7
from hadamard_min.io.weights import check_finite
from hadamard_min.models.question import QuestionEncoder

DEFAULT_SIZES = {"word_dim": 620, "question_dim": 2400, "joint_dim": 1200, "glimpses": 2}
GRU_NAMES = ("W_r", "b_r", "W_z", "b_z", "U_r", "U_z", "W_x", "b_x", "U_x")
PLAIN_GRU_NAMES = ("W_rz", "b_rz", "U_rz", "W_x", "b_x", "U_x")   # nn.GRU with p = 0
GRU_HINT = "expected the parameters of rnn's nn.GRU(D, N) in Torch7 order"


def gru_layout(word_dim, question_dim):
    """(name, shape) of the nine Bayesian-GRU parameters in Torch7 order."""
    D, N = word_dim, question_dim
    shapes = ((N, D), (N,), (N, D), (N,), (N, N), (N, N), (N, D), (N,), (N, N))
    return [(f"gru.{name}", shape) for name, shape in zip(GRU_NAMES, shapes)]


def mlb_t7_layout(num_words, num_answers, visual_dim=2048, word_dim=620, question_dim=2400, joint_dim=1200,
                  glimpses=2):
    """The documented order of ``MLB.t7``: a list of (name, shape), names ours for the MLB's maps."""
    N, M, C, G, K = question_dim, visual_dim, joint_dim, glimpses, num_answers
    linears = [("linear_q_att", (C, N)), ("conv_v_att", (C, M)), ("conv_att", (G, C, 1, 1)),
               ("linear_q_fusion", (G * C, N)), *[(f"list_linear_v_fusion.{g}", (C, M)) for g in range(G)],
               ("linear_classif", (K, G * C))]
    layout = [("lookup.weight", (num_words + 1, word_dim)), *gru_layout(word_dim, question_dim)]
    for name, shape in linears:
        layout += [(f"mlb.{name}.weight", shape), (f"mlb.{name}.bias", shape[:1])]
    return layout


def flat_vector(vector, sizes, source):
    """``vector`` when it is 1-D and no size in ``sizes`` alone exceeds its length (each is a factor of some
    parameter's shape): checked before the layout, which lists one entry per glimpse, is built."""
    if not isinstance(vector, numpy.ndarray) or vector.ndim != 1:
        found = type(vector).__name__ if not isinstance(vector, numpy.ndarray) else f"shape {vector.shape}"
        raise PortError(f"{source}: expected one flat parameter vector (a 1-D tensor), found {found}")
    too_large = [f"{name} {size:,}" for name, size in sizes.items() if size > vector.size]
    if too_large:
        raise PortError(f"{source} holds {vector.size:,} parameters, fewer than {', '.join(too_large)} alone "
                        f"needs: give the sizes MLB.t7 was trained with (--mlb-sizes)")
    return vector


def split_flat_vector(vector, layout, source):
    """Cut the flat vector (1-D, see :func:`flat_vector`) into the arrays of ``layout``; refuse a vector of any
    other length."""
    expected = sum(prod(shape) for _, shape in layout)
    if vector.size != expected:
        raise PortError(f"{source} holds {vector.size:,} parameters but the configured sizes need "
                        f"{expected:,}: check the vocabulary and answer files and the sizes (word_dim, "
                        f"question_dim, joint_dim, glimpses, the ResNet's channels)")
    arrays, start = {}, 0
    for name, shape in layout:
        arrays[name] = vector[start:start + prod(shape)].reshape(shape)
        start += prod(shape)
    return arrays


def _gru_from_parts(parts):
    """Our reset_before GRU arrays from the nine Torch7 parameters (keys "gru.W_r", …)."""
    blocks = [[parts[f"gru.{kind}_{gate}"] for gate in "rzx"] for kind in ("W", "b", "U")]
    return gru_state("", *blocks)


def port_torch7_mlb(path, vocab_path, answers_path=None, visual_dim=2048, **sizes):
    """Read ``MLB.t7`` with its ``data_prepro.json`` (words, and answers unless ``answers_path``).

    ``sizes`` (word_dim, question_dim, joint_dim, glimpses) default to the paper's (``DEFAULT_SIZES``).
    """
    sizes = {**DEFAULT_SIZES, **sizes}
    check_sizes({**sizes, "visual_dim": visual_dim}, f"{path} (the sizes given for it)",
                "give the sizes MLB.t7 was trained with (--mlb-sizes)")
    words = read_names(vocab_path, "words")
    answers = read_names(answers_path or vocab_path, "answers")
    vector = flat_vector(read_t7(path), {**sizes, "visual_dim": visual_dim}, path)
    parts = split_flat_vector(vector, mlb_t7_layout(len(words), len(answers), visual_dim, **sizes), path)
    vocab, rows = vocabulary_rows(words)
    state = {"encoder.embedding.weight": table_in_vocab_order(parts["lookup.weight"], rows)}
    state.update({f"encoder.gru.{name}": array for name, array in _gru_from_parts(parts).items()})
    for name, array in parts.items():
        if name.startswith("mlb."):
            state[name] = float32(array.reshape(array.shape[0], -1) if array.ndim == 4 else array)
    C = sizes["joint_dim"]
    config = {"num_words": len(vocab), "word_dim": sizes["word_dim"], "question_dim": sizes["question_dim"],
              "candidate": "reset_before", "visual_dim": visual_dim, "attention_dim": C, "joint_dim": C,
              "glimpses": sizes["glimpses"], "num_answers": len(answers), "tanh_after_attention": False,
              "tanh_before_classifier": False, "pre_relu": True}
    return PortedMLB(config=config, state=state, vocab=vocab, answers=answers, source=str(path))


# ----------------------------------------------------------------------------- skip-thoughts start
def read_lookup_t7(path):
    """The word table (V+1, D) of ``lookup_2k.t7`` (an nn.LookupTableMaskZero, or a bare 2-D tensor)."""
    obj = read_t7(path)
    tables = [obj] if isinstance(obj, numpy.ndarray) else module_parameters(obj, path)
    if len(tables) != 1 or tables[0].ndim != 2:
        found = ", ".join(str(table.shape) for table in tables) or "no parameters"
        raise PortError(f"{path}: expected a lookup table with one 2-D weight (V+1, D), found {found}")
    return tables[0]


def read_gru_t7(path):
    """Our reset_before GRU arrays (weight_ih, weight_hh, bias_ih, bias_hh) from ``gru.t7``.

    Accepts the plain rnn GRU (6 parameters, as ``train.lua`` expects) and the Bayesian one (9).
    """
    obj = read_t7(path)
    params = module_parameters(obj, path) if isinstance(obj, TorchObject) else []
    shapes = [tuple(p.shape) for p in params]
    if len(params) not in (6, 9) or len(shapes[-1]) != 2 or len(shapes[0]) != 2:
        raise PortError(f"{path}: expected an rnn GRU module with 6 or 9 parameters, found {len(params)} "
                        f"of shapes {shapes}")
    N, D = shapes[-1][0], shapes[0][1]
    check_sizes({"word_dim": D, "question_dim": N}, f"{path} (sizes read off its tensors' shapes)", GRU_HINT)
    if len(params) == 6:  # split [r; z] blocks as GRU:migrate does
        expected = [(2 * N, D), (2 * N,), (2 * N, N), (N, D), (N,), (N, N)]
        check_shapes(dict(zip(PLAIN_GRU_NAMES, expected)), dict(zip(PLAIN_GRU_NAMES, params)), path, GRU_HINT)
        (W, b, U, W_x, b_x, U_x) = params
        params = [W[:N], b[:N], W[N:], b[N:], U[:N], U[N:], W_x, b_x, U_x]
    parts = dict(zip((name for name, _ in gru_layout(D, N)), params))
    check_shapes(dict(gru_layout(D, N)), parts, path, GRU_HINT)
    return _gru_from_parts(parts)


def port_torch7_question_encoder(lookup_path, gru_path, vocab_path):
    """The skip-thoughts question encoder the original MLB started from: (QuestionEncoder, Vocabulary)."""
    words = read_names(vocab_path, "words")
    table, gru = read_lookup_t7(lookup_path), read_gru_t7(gru_path)
    if table.shape[0] != len(words) + 1:
        raise PortError(f"{lookup_path} has {table.shape[0]} rows but {vocab_path} lists {len(words)} words "
                        f"(expected {len(words) + 1} rows: padding + one per word)")
    if gru["weight_ih"].shape[1] != table.shape[1]:
        raise PortError(f"{gru_path} reads {gru['weight_ih'].shape[1]}-d words but {lookup_path} holds "
                        f"{table.shape[1]}-d word vectors")
    vocab, rows = vocabulary_rows(words)
    embedding = check_finite({"embedding.weight": table_in_vocab_order(table, rows)}, str(lookup_path))  # not gru's
    encoder = QuestionEncoder(len(vocab), table.shape[1], gru["weight_hh"].shape[1], candidate="reset_before")
    state = {**embedding, **{f"gru.{k}": v for k, v in gru.items()}}
    return encoder.load_state_dict(state, source=str(gru_path)), vocab
