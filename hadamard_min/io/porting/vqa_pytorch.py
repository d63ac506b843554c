"""Port vqa.pytorch's MLB with attention (``MLBAtt`` with a ``BayesianUniSkip`` question encoder).

Checkpoint names and shapes, with V words, D word size (620), N question size (2400), M visual channels
(2048), A attention size, G glimpses (conv_att's first dimension), J fusion size per glimpse, K answers:

    seq2vec.embedding.weight                        (V+1, D)    row 0 padding, row k word id k
    seq2vec.rnn.gru_cell.weight_{ir,ii,in}.weight   (N, D)      input → reset r, update i, candidate n
    seq2vec.rnn.gru_cell.weight_{ir,ii,in}.bias     (N,)
    seq2vec.rnn.gru_cell.weight_{hr,hi,hn}.weight   (N, N)      no bias
    conv_v_att.weight (A, M, 1, 1)           → mlb.conv_v_att.weight (A, M)      (1×1 conv = linear map)
    linear_q_att.weight (A, N)               → mlb.linear_q_att.weight
    conv_att.weight (G, A, 1, 1)             → mlb.conv_att.weight (G, A)
    list_linear_v_fusion.{g}.weight (J, M)   → mlb.list_linear_v_fusion.{g}.weight
    linear_q_fusion.weight (G·J, N)          → mlb.linear_q_fusion.weight
    linear_classif.weight (K, G·J)           → mlb.linear_classif.weight
    (each of the last six with its ``.bias``, copied as is)

Its GRU cell computes r = σ(W_ir x + b_ir + W_hr h), i = σ(W_ii x + b_ii + W_hi h),
n = tanh(W_in x + b_in + r ∘ (W_hn h)) and h' = (1 − i) ∘ n + i ∘ h: our "reset_after" form, with its
update gate i as our z, so weight_ih = [W_ir; W_ii; W_in], weight_hh = [W_hr; W_hi; W_hn], bias_hh = 0.
The model options of its ``mlb_att`` configuration: tanh after every linear map, tanh (and dropout)
after the attention product, tanh before the classifier, and ResNet features after layer4's last ReLU.
"""
import os

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
from hadamard_min.io.weights import load_weights

GRU = "seq2vec.rnn.gru_cell."
EMBEDDING = "seq2vec.embedding.weight"
LINEARS = ("linear_q_att", "conv_v_att", "conv_att", "linear_q_fusion", "linear_classif")
HINT = ("expected vqa.pytorch's MLB with attention (arch MLBAtt, seq2vec BayesianUniSkip), "
        "as saved by its training (ckpt_model)")


def read_checkpoint(path):
    """The checkpoint's arrays by name (a DataParallel ``module.`` prefix removed)."""
    if str(path).endswith(".tar"):
        raise PortError(f"{path}: vqa.pytorch saved its checkpoints with an old torch; re-save it once as "
                        f".pth with torch: torch.save(torch.load('{os.path.basename(path)}'), 'mlb_att.pth')")
    state = load_weights(path)
    if all(name.startswith("module.") for name in state):
        state = {name[len("module."):]: array for name, array in state.items()}
    return state


def _dim(state, name, axis):
    """``state[name].shape[axis]``, or -1 where the array is absent or has too few axes (refused later)."""
    shape = state[name].shape if name in state else ()
    return shape[axis] if len(shape) > axis else -1


def sizes_of(state):
    """V+1, D, N, M, A, G, J, K read off the checkpoint's shapes (the glimpses G from conv_att)."""
    return {"table_rows": _dim(state, EMBEDDING, 0), "word_dim": _dim(state, EMBEDDING, 1),
            "question_dim": _dim(state, GRU + "weight_hn.weight", 0),
            "attention_dim": _dim(state, "conv_v_att.weight", 0),
            "visual_dim": _dim(state, "conv_v_att.weight", 1),
            "glimpses": _dim(state, "conv_att.weight", 0),
            "joint_dim": _dim(state, "list_linear_v_fusion.0.weight", 0),
            "num_answers": _dim(state, "linear_classif.weight", 0)}


def expected_shapes(sizes):
    """Every checkpoint name and its shape for the given sizes (the layout in the module docstring)."""
    rows, D, N = sizes["table_rows"], sizes["word_dim"], sizes["question_dim"]
    M, A, G, J, K = (sizes[key] for key in ("visual_dim", "attention_dim", "glimpses", "joint_dim",
                                            "num_answers"))
    shapes = {EMBEDDING: (rows, D)}
    for gate in "rin":
        shapes.update({f"{GRU}weight_i{gate}.weight": (N, D), f"{GRU}weight_i{gate}.bias": (N,),
                       f"{GRU}weight_h{gate}.weight": (N, N)})
    linears = {"conv_v_att": (A, M, 1, 1), "linear_q_att": (A, N), "conv_att": (G, A, 1, 1),
               **{f"list_linear_v_fusion.{g}": (J, M) for g in range(max(G, 0))},
               "linear_q_fusion": (G * J, N), "linear_classif": (K, G * J)}
    for name, shape in linears.items():
        shapes.update({f"{name}.weight": shape, f"{name}.bias": shape[:1]})
    return shapes


def port_vqa_pytorch(path, words_path, answers_path):
    """Read a vqa.pytorch MLB-attention checkpoint with its word and answer files: a :class:`PortedMLB`."""
    state = read_checkpoint(path)
    sizes = sizes_of(state)
    if sizes["glimpses"] > len(state):  # before expected_shapes lists a fusion map per glimpse
        raise PortError(f"{path}: conv_att.weight has {sizes['glimpses']:,} glimpses (its first axis), but the file "
                        f"holds only {len(state):,} arrays, not one list_linear_v_fusion.g per glimpse; {HINT}")
    check_shapes(expected_shapes(sizes), state, path, HINT)
    check_sizes(sizes, f"{path} (sizes read off its tensors' shapes)", HINT)
    words, answers = read_names(words_path, "words"), read_names(answers_path, "answers")
    if sizes["table_rows"] != len(words) + 1:
        raise PortError(f"{words_path} lists {len(words)} words but the word table of {path} has "
                        f"{sizes['table_rows']} rows (expected {len(words) + 1}: padding + one per word); "
                        f"use the vocabulary saved with these weights")
    if sizes["num_answers"] != len(answers):
        raise PortError(f"{answers_path} lists {len(answers)} answers but the classifier of {path} has "
                        f"{sizes['num_answers']} outputs; use the answer list saved with these weights")
    vocab, rows = vocabulary_rows(words)
    ours = {"encoder.embedding.weight": table_in_vocab_order(state[EMBEDDING], rows)}
    ours.update(gru_state("encoder.gru.", [state[f"{GRU}weight_i{gate}.weight"] for gate in "rin"],
                          [state[f"{GRU}weight_i{gate}.bias"] for gate in "rin"],
                          [state[f"{GRU}weight_h{gate}.weight"] for gate in "rin"]))
    fusion = [f"list_linear_v_fusion.{g}" for g in range(sizes["glimpses"])]
    for name in (*LINEARS, *fusion):
        weight = state[f"{name}.weight"]
        ours[f"mlb.{name}.weight"] = float32(numpy.reshape(weight, (weight.shape[0], -1)))
        ours[f"mlb.{name}.bias"] = float32(state[f"{name}.bias"])
    config = {key: sizes[key] for key in ("word_dim", "question_dim", "visual_dim", "attention_dim",
                                          "glimpses", "joint_dim", "num_answers")}
    config.update(num_words=len(vocab), candidate="reset_after", tanh_after_attention=True,
                  tanh_before_classifier=True, pre_relu=False)
    return PortedMLB(config=config, state=ours, vocab=vocab, answers=answers, source=str(path))
