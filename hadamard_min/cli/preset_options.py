"""hadamard-explain's options for the paper's pipeline on published weights (:mod:`io.porting.preset`)."""
import argparse

from hadamard_min.cli.checks import integer
from hadamard_min.cli.checks import path as path_argument
from hadamard_min.io.porting.preset import PRESETS
from hadamard_min.io.porting.torch7_mlb import DEFAULT_SIZES


def _sizes(text):
    """``word_dim=620,question_dim=2400,…`` → dict of ints (argparse type for --mlb-sizes): each size in ASCII
    digits and at least 1 as every number option (``checks.integer``), each name once (a second would silently
    win, as an option given twice would)."""
    sizes, size = {}, integer(1)
    for item in text.split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals:
            raise argparse.ArgumentTypeError(f"expected NAME=INT,… (names: {', '.join(DEFAULT_SIZES)}), not {text!r}")
        if key in sizes:
            raise argparse.ArgumentTypeError(f"{key} given twice in {text!r}; give each size once")
        try:
            sizes[key] = size(value)
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"{key}: {error}") from None
    unknown = sorted(set(sizes) - set(DEFAULT_SIZES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown size {', '.join(unknown)}; "
                                         f"names: {', '.join(DEFAULT_SIZES)}")
    return sizes


def add_preset_arguments(parser):
    """Add --preset, --resnet, --mlb, --vocab, --answers and --mlb-sizes to ``parser`` (hadamard-explain)."""
    group = parser.add_argument_group("published models (a preset instead of --weights)")
    group.add_argument("--preset", choices=sorted(PRESETS),
                       help="run the paper's pipeline on published weights: ResNet-152 + MLB, 448×448 images "
                            "(without --resnet, --mlb or --vocab the error says where each file comes from)")
    group.add_argument("--resnet", type=path_argument, help="ImageNet ResNet-152 weights (.pth, .safetensors or .npz)")
    group.add_argument("--mlb", type=path_argument,
                       help="MLB weights: the original MLB.t7 or a vqa.pytorch checkpoint (.pth)")
    group.add_argument("--vocab", type=path_argument,
                       help="words: data_prepro.json (MLB.t7) or wid_to_word.pickle (.pth)")
    group.add_argument("--answers", type=path_argument, help="answers for a .pth checkpoint: aid_to_ans.pickle")
    group.add_argument("--mlb-sizes", type=_sizes, metavar="NAME=INT,…",
                       help=f"sizes of an MLB.t7 trained with other settings (default: "
                            f"{','.join(f'{k}={v}' for k, v in DEFAULT_SIZES.items())})")
    return parser
