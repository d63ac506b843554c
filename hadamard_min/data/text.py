"""Questions as numbers: a tokenizer, a vocabulary and fixed-length id sequences.

A question becomes lower-case word tokens (punctuation dropped, apostrophes inside words kept), each
token an index into the vocabulary (0 = padding, 1 = unknown word), padded to a fixed length ``T``:

    "What's the colour?"  ->  ["what's", "the", "colour"]  ->  [17, 4, 1, 0, 0, ..., 0]   (left-aligned)
                                                           ->  [0, ..., 0, 0, 17, 4, 1]   (right-aligned)

Left alignment (padding at the end) with the true lengths lets a GRU pick the state after the last real
word; right alignment (padding at the start) is what the original MLB code used, so that the last state
is always the answer-relevant one.
"""
import re
import unicodedata
from collections import Counter

import numpy

from hadamard_min.io.limits import MAX_NAME_CHARS, MAX_QUESTION_CHARS

PAD, UNK = "<pad>", "<unk>"
PAD_INDEX, UNK_INDEX = 0, 1

# A word: letters/digits, optionally joined by single apostrophes ("what's", "rock'n'roll").
# Leading/trailing apostrophes and all other punctuation fall outside the match and are dropped. The text is
# NFC-normalised first ("cafe" + U+0301 becomes "café"); a combining accent left over and U+FFFD (a byte that
# could not be decoded) count as letters inside a word, so that an unknown word stays whole instead of being cut
# at them; a run of them with no letter at all is no word.
_MARK = "[\u0300-\u036f\ufffd]"
_PART = rf"{_MARK}*[^\W_](?:[^\W_]|{_MARK})*"
_WORD = re.compile(rf"{_PART}(?:'{_PART})*")
_CURLY_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})


class QuestionError(ValueError):
    """A question cannot be turned into model input (empty, too long)."""


class VocabularyError(ValueError):
    """A saved vocabulary is malformed."""


def tokenize(question: str) -> list[str]:
    """Lower-case word tokens of ``question``; punctuation is dropped, inner apostrophes are kept. A question of
    more than ``MAX_QUESTION_CHARS`` characters, or a word of more than ``MAX_NAME_CHARS``, is refused: no
    explanation of it could be drawn in reasonable time, nor saved (``explain.saved``)."""
    if not isinstance(question, str):
        raise QuestionError(f"a question is text (a str), not {type(question).__name__}: pass the question "
                            f"as a string")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question has {len(question):,} characters, more than the {MAX_QUESTION_CHARS:,} "
                            f"a question may have: ask a shorter one")
    tokens = _WORD.findall(unicodedata.normalize("NFC", question).lower().translate(_CURLY_APOSTROPHES))
    if not tokens:
        raise QuestionError(f"the question is empty (no words in {question!r}): type a question with words")
    long = first_too_long(tokens)
    if long:
        raise QuestionError(f"the question's word {long[0] + 1} has {len(long[1]):,} characters, more than the "
                            f"{MAX_NAME_CHARS:,} a word may have: ask with shorter words")
    return tokens


def first_too_long(names):
    """``(position, name)`` of the first of ``names`` longer than ``MAX_NAME_CHARS`` characters, else None: a
    figure draws an answer or a word on one line, at about 0.2 ms a character (a 200,000-character answer in a
    750 KB model file kept hadamard-explain drawing for 100 s)."""
    return next(((position, name) for position, name in enumerate(names) if len(name) > MAX_NAME_CHARS), None)


def first_repeat(names):
    """``(name, its first position, its second)`` for the first name ``names`` lists twice, else None: a
    vocabulary or an answer list naming one thing twice makes a name stand for two ids."""
    seen = {}
    for position, name in enumerate(names):
        if name in seen:
            return name, seen[name], position
        seen[name] = position
    return None


class Vocabulary:
    """Word ↔ index table with ``<pad>`` at 0 and ``<unk>`` at 1."""

    def __init__(self, words):
        """``words`` are the ordinary words, in index order starting at 2 (no specials)."""
        self.words = [PAD, UNK, *words]
        repeat = first_repeat(self.words)
        if repeat:
            word, first, second = repeat
            raise VocabularyError(f"the vocabulary lists {word[:80]!r} twice (ids {first} and {second}), so a "
                                  f"question's ids would be ambiguous; list each word once ({PAD!r} and {UNK!r} "
                                  f"are ids 0 and 1 already)")
        self._index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def build(cls, questions, min_count=1):
        """Vocabulary of the words seen at least ``min_count`` times in ``questions`` (strings).

        Order is deterministic: by count, most frequent first, ties alphabetical.
        """
        counts = Counter(token for question in questions for token in tokenize(question))
        kept = [word for word, count in counts.items() if count >= min_count and word not in (PAD, UNK)]
        return cls(sorted(kept, key=lambda word: (-counts[word], word)))

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self._index

    def index(self, word):
        """Index of ``word``; ``UNK_INDEX`` for a word not in the vocabulary."""
        return self._index.get(word, UNK_INDEX)

    def unknown_words(self, tokens):
        """The tokens that :meth:`encode` would map to ``<unk>``, in order (callers may warn)."""
        return [token for token in tokens if token not in self._index]

    def encode(self, tokens, max_length, align="left"):
        """``(ids, n)``: int64 ids of length ``max_length`` and the number ``n`` of real tokens.

        ``align="left"`` puts the tokens first and pads at the end; ``"right"`` pads at the start.
        """
        if align not in ("left", "right"):
            raise ValueError(f"align must be 'left' or 'right', not {align!r}")
        n = len(tokens)
        if n == 0:
            raise QuestionError("the question is empty: type a question with words")
        if n > max_length:
            raise QuestionError(f"the question has {n} words but the model reads at most {max_length}: "
                                f"shorten the question")
        ids = numpy.full(max_length, PAD_INDEX, dtype=numpy.int64)
        token_ids = [self.index(token) for token in tokens]
        if align == "left":
            ids[:n] = token_ids
        else:
            ids[max_length - n:] = token_ids
        return ids, n

    def to_list(self):
        """All words in index order, specials included (JSON-friendly, e.g. for an ``.npz``)."""
        return list(self.words)

    @classmethod
    def from_list(cls, words):
        """Inverse of :meth:`to_list`."""
        if not isinstance(words, list | tuple) or not all(isinstance(word, str) for word in words):
            raise VocabularyError("a saved vocabulary must be a list of words (strings): the file is not a "
                                  "hadamard-min vocabulary")
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise VocabularyError(f"a saved vocabulary must start with {PAD!r}, {UNK!r}, not {words[:2]}: "
                                  f"the file is not a hadamard-min vocabulary")
        return cls(words[2:])


def encode_batch(questions, vocab, max_length, align="left"):
    """Tokenize and encode a list of question strings.

    Returns ``ids`` (B, T) int64 and ``lengths`` (B,) int64, with T = ``max_length``.
    """
    ids = numpy.empty((len(questions), max_length), dtype=numpy.int64)
    lengths = numpy.empty(len(questions), dtype=numpy.int64)
    for row, question in enumerate(questions):
        ids[row], lengths[row] = vocab.encode(tokenize(question), max_length, align=align)
    return ids, lengths
