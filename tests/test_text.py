import json

import numpy
import pytest

from hadamard_min.data.text import (
    PAD_INDEX,
    UNK_INDEX,
    QuestionError,
    Vocabulary,
    VocabularyError,
    encode_batch,
    tokenize,
)


@pytest.mark.parametrize("question, tokens", [
    ("What color is the shape?", ["what", "color", "is", "the", "shape"]),
    ("Is there a RED circle?!", ["is", "there", "a", "red", "circle"]),
    ("what's   the colour,shape ", ["what's", "the", "colour", "shape"]),
    ("What\u2019s that?", ["what's", "that"]),
    ("'quoted' words' end'", ["quoted", "words", "end"]),
    ("rock'n'roll -- 2 dogs", ["rock'n'roll", "2", "dogs"]),
    ("don''t", ["don", "t"]),
    ("snake_case", ["snake", "case"]),
    ("Où est-il?", ["où", "est", "il"]),
    ("Is the cafe\u0301 open?", ["is", "the", "café", "open"]),      # decomposed: NFC makes it one letter
    ("caf\u00e9 or caf\ufffd\ufffd?", ["café", "or", "caf\ufffd\ufffd"]),  # undecodable bytes stay in the word
    ("what \ufffd\ufffd shape?", ["what", "shape"]),  # undecodable bytes alone are no word
])
def test_tokenize(question, tokens):
    assert tokenize(question) == tokens


@pytest.mark.parametrize("question", ["", "   ", "?!...", "' '' '", "_"])
def test_tokenize_rejects_questions_without_words(question):
    with pytest.raises(QuestionError, match="the question is empty"):
        tokenize(question)


QUESTIONS = ["is the shape red?", "What color is the shape?", "is there a circle?", "the circle is blue"]


def test_build_orders_by_count_then_alphabet():
    vocab = Vocabulary.build(QUESTIONS)
    # counts: is 4, the 3, circle 2, shape 2, then the single words alphabetically
    assert vocab.words == ["<pad>", "<unk>", "is", "the", "circle", "shape",
                           "a", "blue", "color", "red", "there", "what"]
    assert len(vocab) == 12
    assert vocab.index("<pad>") == PAD_INDEX == 0
    assert vocab.index("<unk>") == UNK_INDEX == 1
    assert vocab.index("circle") == 4


def test_build_min_count_and_is_deterministic():
    vocab = Vocabulary.build(QUESTIONS, min_count=2)
    assert vocab.words == ["<pad>", "<unk>", "is", "the", "circle", "shape"]
    assert Vocabulary.build(list(reversed(QUESTIONS))).words == Vocabulary.build(QUESTIONS).words


def test_unknown_words_map_to_unk_and_are_reported():
    vocab = Vocabulary.build(QUESTIONS)
    tokens = tokenize("Is the hexagon purple?")
    assert vocab.unknown_words(tokens) == ["hexagon", "purple"]
    ids, n = vocab.encode(tokens, 6)
    assert n == 4
    assert ids.tolist() == [vocab.index("is"), vocab.index("the"), UNK_INDEX, UNK_INDEX, 0, 0]
    assert vocab.unknown_words(["is", "the"]) == []


def test_encode_alignment():
    vocab = Vocabulary.build(QUESTIONS)
    tokens = ["what", "color", "is"]
    expected = [vocab.index(t) for t in tokens]
    left, n_left = vocab.encode(tokens, 5, align="left")
    right, n_right = vocab.encode(tokens, 5, align="right")
    assert left.dtype == right.dtype == numpy.int64
    assert left.tolist() == expected + [0, 0]
    assert right.tolist() == [0, 0] + expected
    assert n_left == n_right == 3
    exact, n = vocab.encode(tokens, 3)
    assert exact.tolist() == expected and n == 3
    with pytest.raises(ValueError, match="align"):
        vocab.encode(tokens, 5, align="centre")


def test_encode_too_long_names_both_lengths():
    vocab = Vocabulary.build(QUESTIONS)
    with pytest.raises(QuestionError, match=r"has 5 words .* at most 4"):
        vocab.encode(tokenize("is the shape red today"), 4)


def test_encode_batch():
    vocab = Vocabulary.build(QUESTIONS)
    ids, lengths = encode_batch(["is it red?", "What color is the shape?"], vocab, 6)
    assert ids.shape == (2, 6) and ids.dtype == numpy.int64
    assert lengths.tolist() == [3, 5]
    assert ids[0].tolist() == [vocab.index("is"), UNK_INDEX, vocab.index("red"), 0, 0, 0]
    assert ids[1, :5].tolist() == [vocab.index(t) for t in ["what", "color", "is", "the", "shape"]]
    right, _ = encode_batch(["is it red?"], vocab, 6, align="right")
    assert right[0].tolist() == [0, 0, 0, vocab.index("is"), UNK_INDEX, vocab.index("red")]
    with pytest.raises(QuestionError, match="at most 2"):
        encode_batch(["is it red?"], vocab, 2)


def test_vocabulary_round_trip(tmp_path):
    vocab = Vocabulary.build(QUESTIONS)
    path = tmp_path / "vocab.npz"
    numpy.savez(path, vocab=numpy.array(json.dumps(vocab.to_list())))
    with numpy.load(path, allow_pickle=False) as saved:
        restored = Vocabulary.from_list(json.loads(str(saved["vocab"])))
    assert restored.words == vocab.words
    assert [restored.index(w) for w in vocab.words] == list(range(len(vocab)))


def test_from_list_rejects_malformed_lists():
    with pytest.raises(VocabularyError, match="must start with"):
        Vocabulary.from_list(["is", "the"])
    with pytest.raises(VocabularyError, match=r"lists 'is' twice \(ids 2 and 3\)"):
        Vocabulary.from_list(["<pad>", "<unk>", "is", "is"])
    with pytest.raises(VocabularyError, match=r"lists '<unk>' twice \(ids 1 and 3\)") as error:
        Vocabulary(["is", "<unk>"])
    assert "Vocabulary.build" not in str(error.value)
