"""Port skip-thoughts' uni-skip encoder (ryankiros/skip-thoughts) to our GRU and word table.

``uni_skip.npz`` (Theano, row-vector convention x·W), with D = 620 word size and H = 2400 state size:

    encoder_W  (D, 2H)  [W_r | W_u]      encoder_b  (2H)  [b_r | b_u]      encoder_U  (H, 2H)  [U_r | U_u]
    encoder_Wx (D, H)                    encoder_bx (H)                    encoder_Ux (H, H)

Its step (``gru_layer``): r = σ(x W_r + b_r + h U_r), u = σ(x W_u + b_u + h U_u),
n = tanh(x W_x + b_x + r ∘ (h U_x)), h' = u ∘ h + (1 − u) ∘ n. That is our "reset_after" form with the
update gate u as our z and every matrix transposed to our (out, in) layout:

    weight_ih = [W_r | W_u | W_x]ᵀ (3H, D)    bias_ih = [b_r | b_u | b_x]    weight_hh = [U_r | U_u | U_x]ᵀ
    bias_hh = 0

The word table ``utable.npy`` (n, D) holds row i for line i of ``dictionary.txt`` (one word per line,
``UNK`` among them). A vocabulary gets: row 0 (padding) zeros, ``<unk>`` the ``UNK`` row, every other
word its row, or the ``UNK`` row when the dictionary lacks it (as vqa.pytorch did). The table is mapped
from disk, so only the vocabulary's rows are read (utable.npy is about 2.3 GB).
"""
import numpy

from hadamard_min.data.text import PAD, UNK, Vocabulary
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import read_bounded, text_lines
from hadamard_min.io.npz import open_npy_mapped, read_npz
from hadamard_min.io.porting.common import PortError, check_shapes, check_sizes, float32, gru_state
from hadamard_min.io.weights import check_finite
from hadamard_min.models.question import QuestionEncoder

HINT = "expected skip-thoughts' uni_skip.npz"
NPZ_NAMES = ("encoder_W", "encoder_b", "encoder_U", "encoder_Wx", "encoder_bx", "encoder_Ux")


def uni_skip_shapes(word_dim, hidden_dim):
    D, H = word_dim, hidden_dim
    return dict(zip(NPZ_NAMES, ((D, 2 * H), (2 * H,), (H, 2 * H), (D, H), (H,), (H, H))))


def read_uni_skip(path):
    """The six ``encoder_*`` arrays of ``uni_skip.npz``, shapes checked (D and H from ``encoder_Wx``)."""
    arrays = read_npz(path, lambda name: name in NPZ_NAMES)
    D, H = arrays["encoder_Wx"].shape if arrays.get("encoder_Wx", numpy.empty(0)).ndim == 2 else (-1, -1)
    check_shapes(uni_skip_shapes(D, H), arrays, path, HINT)
    check_sizes({"word_dim": D, "hidden_dim": H}, f"{path} (sizes read off encoder_Wx's shape)", HINT)
    return arrays


def uni_skip_gru_state(arrays):
    """Our GRU's arrays (names weight_ih, bias_ih, weight_hh, bias_hh) from the uni-skip encoder."""
    H = arrays["encoder_Ux"].shape[0]
    W, b, U = arrays["encoder_W"], arrays["encoder_b"], arrays["encoder_U"]
    return gru_state("", [W[:, :H].T, W[:, H:].T, arrays["encoder_Wx"].T],
                     [b[:H], b[H:], arrays["encoder_bx"]],
                     [U[:, :H].T, U[:, H:].T, arrays["encoder_Ux"].T])


def read_word_table(utable_path, dictionary_path):
    """(table, row of each word): ``utable.npy`` mapped from disk and ``dictionary.txt``'s lines."""
    convert = ("convert it once with numpy: numpy.save('utable_f32.npy', numpy.stack(numpy.load('utable.npy', "
               "allow_pickle=True, encoding='latin1')).reshape(-1, 620).astype('float32'))")
    try:
        table = open_npy_mapped(utable_path, hint=convert)
    except WeightsError:
        raise
    except (OSError, ValueError) as error:
        raise PortError(f"{utable_path}: cannot read it as .npy ({error})") from None
    words = [line.strip() for line in text_lines(read_bounded(dictionary_path), dictionary_path)]
    if table.ndim != 2 or table.shape[0] != len(words):
        raise PortError(f"{utable_path} has shape {table.shape} but {dictionary_path} lists {len(words)} "
                        f"words: expected ({len(words)}, D), one row per line")
    if "UNK" not in words:
        raise PortError(f"{dictionary_path} has no UNK line; expected skip-thoughts' dictionary.txt")
    return table, {word: row for row, word in enumerate(words)}


def port_uni_skip(uni_skip_path, utable_path, dictionary_path, vocab):
    """A reset_after :class:`QuestionEncoder` with uni-skip's GRU and word vectors for ``vocab``.

    ``vocab``: a :class:`Vocabulary` or a list of words (then ``<pad>``/``<unk>`` are added in front).
    Returns ``(encoder, vocab)``.
    """
    vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary([w for w in vocab if w not in (PAD, UNK)])
    gru = uni_skip_gru_state(read_uni_skip(uni_skip_path))
    table, row_of = read_word_table(utable_path, dictionary_path)
    if table.shape[1] != gru["weight_ih"].shape[1]:
        raise PortError(f"{utable_path} holds {table.shape[1]}-d word vectors but {uni_skip_path} reads "
                        f"{gru['weight_ih'].shape[1]}-d words")
    rows = [row_of.get(word, row_of["UNK"]) for word in vocab.words]
    words = float32(table[numpy.asarray(rows)])
    words[0] = 0                                                    # <pad>
    check_finite({"embedding.weight": words}, str(utable_path))  # here, or a NaN is blamed on uni_skip.npz
    encoder = QuestionEncoder(len(vocab), table.shape[1], gru["weight_hh"].shape[1], candidate="reset_after")
    state = {"embedding.weight": words, **{f"gru.{name}": array for name, array in gru.items()}}
    return encoder.load_state_dict(state, source=str(uni_skip_path)), vocab
