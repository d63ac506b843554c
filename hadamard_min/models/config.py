"""A VQA model's settings, checked before anything is built: types, ranges, and the size of the whole model.

A config comes from a file (a model's ``__config__``) or from a command line, so every entry is checked to
be what it claims (an int is an int, not ``true`` or ``1e7``), to lie in ``BOUNDS``, and the parameters the
config implies (counted in Python ints) must stay under ``MAX_PARAMETERS``: a config of width 10⁷ is refused
in microseconds instead of asking for gigabytes.
"""
import math

from hadamard_min.io.errors import WeightsError

MAX_PARAMETERS = 500_000_000  # 2 GB of float32; ResNet-152 + the published MLB is about 110 million
BOUNDS = {"image_size": (8, 1024), "max_length": (1, 1024), "num_words": (2, 10_000_000),
          "word_dim": (1, 65_536), "question_dim": (1, 65_536), "visual_dim": (1, 1 << 20),
          "joint_dim": (1, 65_536), "attention_dim": (1, 65_536), "glimpses": (1, 64),
          "num_answers": (1, 10_000_000), "seed": (0, 2 ** 63 - 1)}
BACKBONE_BOUNDS = {"width": (1, 4096), "num_classes": (1, 1_000_000), "stages": (1, 8), "blocks": (1, 256)}
REQUIRED_KEYS = ("backbone", "image_size", "word_dim", "question_dim", "joint_dim")
FLAGS = ("crop", "pre_relu", "tanh_after_attention", "tanh_before_classifier")
CANDIDATES = ("reset_after", "reset_before")


class ModelConfigError(WeightsError):
    """A model configuration is incomplete or disagrees with its vocabulary/answers (a model file's fault)."""


def _int(value, name, bounds):
    low, high = bounds
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ModelConfigError(f"the model config's {name} is {str(value)[:40]!r}; expected an integer from {low:,} "
                               f"to {high:,}")
    return value


def _floats(value, name, positive=False):
    """Three numbers, one per colour channel, in a range where (pixel − mean) / std stays a float32: |mean|
    at most 1e6, std between 1e-6 and 1e6."""
    low, high = (1e-6, 1e6) if positive else (-1e6, 1e6)
    if not (isinstance(value, list | tuple) and len(value) == 3 and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high
            for v in value)):
        raise ModelConfigError(f"the model config's {name} is {str(value)[:60]}; expected three numbers from "
                               f"{low:g} to {high:g}, one per colour channel")


def resnet_parameters(layers, width, num_classes):
    """(parameters, output channels) of ``ResNet(layers, width, num_classes)``: convolutions, batch norms, fc."""
    total, channels = 3 * 49 * width + 2 * width, width
    for stage, blocks in enumerate(layers):
        planes = width * 2 ** stage
        for block in range(blocks):
            total += channels * planes + 9 * planes * planes + 4 * planes * planes + 12 * planes
            if block == 0 and (stage > 0 or channels != 4 * planes):  # the shortcut's 1×1 conv + bn
                total += channels * 4 * planes + 8 * planes
            channels = 4 * planes
    return total + channels * num_classes + num_classes, channels


def check_backbone(backbone):
    """Refuse a backbone config that is not ``{"layers": [blocks, ...], "width": int, "num_classes": int}``."""
    if not isinstance(backbone, dict) or not isinstance(backbone.get("layers"), list | tuple):
        raise ModelConfigError(f"the model config's backbone is {str(backbone)[:60]}; expected "
                               f"{{'layers': [blocks per stage, ...], 'width': ...}}")
    _int(len(backbone["layers"]), "number of backbone stages", BACKBONE_BOUNDS["stages"])
    for blocks in backbone["layers"]:
        _int(blocks, "backbone's blocks per stage", BACKBONE_BOUNDS["blocks"])
    for key in ("width", "num_classes"):
        if key in backbone:
            _int(backbone[key], f"backbone {key}", BACKBONE_BOUNDS[key])
    return resnet_parameters(backbone["layers"], backbone.get("width", 64), backbone.get("num_classes", 1000))


def check_config(config, num_words, num_answers):
    """Refuse (ModelConfigError) a config that is malformed, out of ``BOUNDS`` or over ``MAX_PARAMETERS``; return
    the number of parameters the config describes (what a model file of it must hold at least)."""
    if not isinstance(config, dict):
        raise ModelConfigError(f"the model config is a {type(config).__name__}, not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if missing:
        raise ModelConfigError(f"the model config lacks {', '.join(missing)}: it is not a VQA model config")
    for key, bounds in BOUNDS.items():
        if key in config and not (key == "attention_dim" and config[key] is None):  # None: joint_dim
            _int(config[key], key, bounds)
    _int(num_words, "number of words", BOUNDS["num_words"])
    _int(num_answers, "number of answers", BOUNDS["num_answers"])
    for key in FLAGS:
        if key in config and not isinstance(config[key], bool):
            raise ModelConfigError(f"the model config's {key} is {str(config[key])[:40]!r}; expected true or false")
    if config.get("candidate", "reset_after") not in CANDIDATES:
        raise ModelConfigError(f"the model config's candidate is {str(config['candidate'])[:40]!r}; expected one "
                               f"of {', '.join(CANDIDATES)}")
    dropout = config.get("dropout", 0.5)
    if not (isinstance(dropout, int | float) and not isinstance(dropout, bool) and 0 <= dropout < 1):
        raise ModelConfigError(f"the model config's dropout is {str(dropout)[:40]!r}; expected a number in [0, 1)")
    _floats(config.get("mean", (0.0, 0.0, 0.0)), "mean")
    _floats(config.get("std", (1.0, 1.0, 1.0)), "std", positive=True)
    backbone = config["backbone"]
    backbone, M = check_backbone({"num_classes": 1, **backbone} if isinstance(backbone, dict) else backbone)
    D, N, J = (config[key] for key in ("word_dim", "question_dim", "joint_dim"))
    G = config.get("glimpses", 2)
    A = config.get("attention_dim") or J
    parameters = (backbone + num_words * D + 3 * N * (D + N) + 6 * N + A * (N + 1) + A * (M + 1) + G * (A + 1)
                  + G * J * (M + 1) + G * J * (N + 1) + num_answers * (G * J + 1))
    if parameters > MAX_PARAMETERS:
        raise ModelConfigError(f"the model config describes {parameters:,} parameters ({parameters * 4 / 2**30:.1f} "
                               f"GiB of float32), more than the {MAX_PARAMETERS:,} built at most; it is not a "
                               f"config for this program")
    return parameters
