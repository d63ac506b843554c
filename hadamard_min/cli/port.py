"""``hadamard-port SRC DST.npz``: convert a weight file to hadamard-min's .npz, without running its code."""
import os
import sys

import numpy

from hadamard_min.cli.errors import Parser, UsageError, run
from hadamard_min.cli.parsing import HelpFormatter, add_version
from hadamard_min.io.atomic import check_outputs
from hadamard_min.io.weights import SUPPORTED, load_weights, save_weights


def main(argv=None):
    """``hadamard-port SRC DST.npz [--force]``: convert a weight file to our .npz; returns the exit code."""
    parser = Parser(
        prog="hadamard-port",
        description=f"Convert a weight file ({SUPPORTED}) to hadamard-min's .npz format. Floating-point "
                    "tensors are stored as float32, integer tensors keep their type. torch is not needed: "
                    "checkpoints are read without running any code they contain. SRC is never modified.",
        epilog="example: hadamard-port resnet152-394f9c45.pth resnet152_imagenet.npz",
        formatter_class=HelpFormatter)
    parser.add_argument("source", metavar="SRC", help=f"weights to convert ({SUPPORTED})")
    parser.add_argument("destination", metavar="DST", help="the .npz file to write")
    parser.add_argument("--force", action="store_true", help="overwrite DST if it exists")
    add_version(parser)
    args = parser.parse_args(argv)
    return run(lambda: _port(args), "hadamard-port")


def check_arguments(args):
    """DST must be an .npz that is not SRC (nor a link to it), and exist only with --force."""
    if not args.destination.endswith(".npz"):
        raise UsageError(f"{args.destination}: the destination must end in .npz")
    check_outputs({"DST": args.destination}, {"SRC": args.source})
    if os.path.lexists(args.destination) and not args.force:  # a link, even to nothing, is something of yours
        raise FileExistsError(f"{args.destination} already exists; pass --force to overwrite it")


def _port(args):
    check_arguments(args)
    arrays = load_weights(args.source)
    arrays = {name: array.astype(numpy.float32) if array.dtype.kind == "f" else array
              for name, array in arrays.items()}
    save_weights(args.destination, arrays, metadata={"source": os.path.basename(args.source)})
    parameters = sum(array.size for array in arrays.values())
    print(f"wrote {len(arrays)} tensors ({parameters:,} parameters) to {args.destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
