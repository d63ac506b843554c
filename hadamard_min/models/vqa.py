"""The whole VQA model: ResNet features + GRU question encoder + MLB (the network the paper explains).

    image I (3, H, W) ──ResNet──▶ F (M, S, S)   (pre-ReLU by default, as the original MLB) ──┐
    question ──tokens──▶ ids ──lookup──▶ q (ρ × D) ──GRU──▶ q (N) ──────────────────────────┴─MLB─▶ α, Q, V, F

``config()`` holds every size and option as JSON; ``build_vqa_model(config, vocab, answers)`` rebuilds
the same architecture (weights are loaded separately, e.g. by ``checkpoint.load_model``).
"""
from dataclasses import dataclass

import numpy

from hadamard_min import ops
from hadamard_min.core.backend import to_device, to_numpy
from hadamard_min.core.tensor import Tensor
from hadamard_min.data.images import IMAGENET_MEAN, IMAGENET_STD, fit, normalize
from hadamard_min.data.text import Vocabulary, encode_batch
from hadamard_min.models.config import ModelConfigError, check_config
from hadamard_min.models.mlb import MLB
from hadamard_min.models.question import QuestionEncoder
from hadamard_min.models.resnet import resnet_from_config
from hadamard_min.nn.module import Module
from hadamard_min.ops.nn import softmax


@dataclass
class VQAOutput:
    """Everything one forward pass computed, per question (B questions)."""
    features: object      # Tensor (B, M, S, S)  the visual feature grid F each question attends over
    word_vectors: object  # Tensor (B, T, D)     the q of eq. 3 (rows of the word lookup table)
    question: object      # Tensor (B, N)        the GRU's question vector, the q of eq. 4-6
    alpha: object         # Tensor (B, G, S, S)  attention, eq. 4
    Q: object             # Tensor (B, G·J)      eq. 6
    V: object             # Tensor (B, G·J)      eq. 6
    F: object             # Tensor (B, G·J)      F = Q ∘ V, eq. 6
    logits: object        # Tensor (B, K)        eq. 7 before the softmax

    def probabilities(self):
        """p(a | q, F) of eq. 7 as a float64 NumPy array (B, K)."""
        return softmax(to_numpy(self.logits.data).astype(numpy.float64), axis=1)


class VQAModel(Module):
    """ResNet ``backbone`` + ``encoder`` (QuestionEncoder) + ``mlb`` (MLB), with the vocabulary, the answer
    list and the image preprocessing that belong to the weights."""

    def __init__(self, backbone, encoder, mlb, vocab, answers, image_size, pre_relu=True, max_length=26,
                 crop=False, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.backbone, self.encoder, self.mlb = backbone, encoder, mlb
        self.vocab, self.answers = vocab, list(answers)
        self.image_size, self.pre_relu, self.max_length, self.crop = int(image_size), bool(pre_relu), \
            int(max_length), bool(crop)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)

    @property
    def dtype(self):
        """The floating-point type of the weights (inputs are cast to it)."""
        return self.mlb.linear_classif.weight.dtype

    # --- inputs -------------------------------------------------------------------------------
    def encode_questions(self, questions):
        """``(ids, lengths)`` (B, T) and (B,) for a list of question strings (words padded at the end).

        Raises ``text.QuestionError`` for an empty question or one longer than ``max_length`` words;
        unknown words become the ``<unk>`` index.
        """
        return encode_batch(questions, self.vocab, self.max_length, align="left")

    def prepare_image(self, image):
        """``(pixels, x)``: the uint8 (S, S, 3) image the network sees and its normalised float (3, S, S).

        ``crop=True`` (the paper's 448 preprocessing): shorter side to ``image_size``, centre crop;
        ``crop=False`` (small models): the whole image resized to ``image_size × image_size``.
        """
        pixels = fit(image, self.image_size, self.crop)
        return pixels, normalize(pixels, self.mean, self.std).astype(self.dtype)

    # --- the network --------------------------------------------------------------------------
    def forward(self, images, ids, lengths, image_index=None):
        """Answer questions ``ids`` (B, T) with ``lengths`` (B,) about ``images`` (B_img, 3, H, W).

        Without ``image_index`` question b is about image b; with it (int array, one entry per question)
        the backbone runs once per image and question b takes the features of image ``image_index[b]``.
        """
        return self.forward_words(images, self.encoder.embed(ids), lengths, image_index)

    def forward_words(self, images, word_vectors, lengths, image_index=None):
        """As :meth:`forward`, from the word vectors q (B, T, D) instead of the ids (the input of eq. 3)."""
        if not isinstance(images, Tensor):
            images = Tensor(to_device(images), dtype=self.dtype)
        features = self.backbone.features(images, pre_relu=self.pre_relu)
        if image_index is not None:  # row lookup: question b gets image image_index[b]'s grid
            features = ops.embedding(features, to_device(to_numpy(image_index).astype(numpy.int64)))
        question = self.encoder.encode(word_vectors, lengths)
        out = self.mlb(question, features)
        return VQAOutput(features=features, word_vectors=word_vectors, question=question, alpha=out.alpha,
                         Q=out.Q, V=out.V, F=out.F, logits=out.logits)

    def forward_from_leaves(self, images, questions):
        """``(out, I, q, lengths)``: the forward pass from two leaf tensors that want gradients.

        I (B, 3, H, W) holds the network inputs ``images`` (normalised floats, as ``prepare_image`` gives)
        and q (B, T, D) the questions' word vectors: the inputs that eq. 2 and eq. 3 differentiate at.
        Call it inside ``with model.frozen():`` so that no parameter gradient is computed.
        """
        ids, lengths = self.encode_questions(questions)
        I = Tensor(to_device(images), dtype=self.dtype, requires_grad=True)
        q = Tensor(self.encoder.embed(ids).data, requires_grad=True)
        return self.forward_words(I, q, lengths), I, q, lengths

    # --- settings -----------------------------------------------------------------------------
    def config(self):
        """Every size and option, JSON-serialisable; ``build_vqa_model(config, vocab, answers)`` rebuilds."""
        encoder, mlb = self.encoder.config(), self.mlb.config()
        return {"backbone": self.backbone.config(), "image_size": self.image_size, "crop": self.crop,
                "mean": list(self.mean), "std": list(self.std), "pre_relu": self.pre_relu,
                "max_length": self.max_length, "num_words": encoder["num_words"],
                "word_dim": encoder["word_dim"], "question_dim": encoder["hidden_dim"],
                "candidate": encoder["candidate"],
                "visual_dim": mlb["visual_dim"], "joint_dim": mlb["joint_dim"],
                "attention_dim": mlb["attention_dim"], "glimpses": mlb["glimpses"],
                "num_answers": mlb["num_answers"], "dropout": mlb["dropout"],
                "tanh_after_attention": mlb["tanh_after_attention"],
                "tanh_before_classifier": mlb["tanh_before_classifier"]}


def build_vqa_model(config, vocab, answers, rng=None):
    """A VQAModel with fresh weights (seeded by ``rng`` or ``config["seed"]``) for ``config``.

    ``vocab`` is a :class:`text.Vocabulary` or its word list (``Vocabulary.to_list()``); ``answers`` the
    answer strings in output order. Optional keys default to: ``crop`` False, ImageNet ``mean``/``std``,
    ``pre_relu`` True, ``max_length`` 26, ``candidate`` "reset_after", ``attention_dim`` = ``joint_dim``,
    ``glimpses`` 2, ``dropout`` 0.5, both tanh options False. The backbone's classifier ``fc`` is unused
    here: a backbone config without ``num_classes`` gets a 1-output ``fc`` (small files). The config is
    checked first (``models.config.check_config``): a malformed or oversized one raises ModelConfigError.
    """
    vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary.from_list(vocab)
    check_config(config, len(vocab), len(answers))
    rng = rng or numpy.random.default_rng(config.get("seed", 0))
    backbone = resnet_from_config({"num_classes": 1, **config["backbone"]}, rng=rng)
    for key, actual in (("num_words", len(vocab)), ("num_answers", len(answers)),
                        ("visual_dim", backbone.out_channels)):
        if key in config and config[key] != actual:
            raise ModelConfigError(f"the model config says {key} = {config[key]} but the model has {actual}: "
                                   f"the vocabulary, answers or backbone do not belong to this config")
    encoder = QuestionEncoder(len(vocab), config["word_dim"], config["question_dim"],
                              candidate=config.get("candidate", "reset_after"), rng=rng)
    mlb = MLB(config["question_dim"], backbone.out_channels, config["joint_dim"], config.get("glimpses", 2),
              len(answers), attention_dim=config.get("attention_dim"), dropout=config.get("dropout", 0.5),
              tanh_after_attention=config.get("tanh_after_attention", False),
              tanh_before_classifier=config.get("tanh_before_classifier", False), rng=rng)
    return VQAModel(backbone, encoder, mlb, vocab, answers, config["image_size"],
                    pre_relu=config.get("pre_relu", True), max_length=config.get("max_length", 26),
                    crop=config.get("crop", False), mean=config.get("mean", IMAGENET_MEAN),
                    std=config.get("std", IMAGENET_STD))
