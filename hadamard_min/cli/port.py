"""``hadamard-port SRC DST.npz``: convert a weight file to hadamard-min's .npz, without running its code."""
import os
import sys

import numpy

from hadamard_min.cli.checks import path_text
from hadamard_min.cli.errors import Parser, UsageError, run
from hadamard_min.cli.parsing import HelpFormatter, add_version
from hadamard_min.escapes import printable
from hadamard_min.io.outputs import check_outputs
from hadamard_min.io.weights import SUPPORTED, WeightsError, load_weights, save_weights


def main(argv=None):
    """``hadamard-port SRC DST.npz [--force]``: convert a weight file to our .npz; returns the exit code."""
    parser = Parser(
        prog="hadamard-port",
        description=f"Convert a weight file ({SUPPORTED}) to hadamard-min's .npz format. Floating-point "
                    "tensors are stored as float32 (a value beyond its range, or a complex tensor, is refused), "
                    "integer tensors keep their type. torch is not needed: "
                    "checkpoints are read without running any code they contain. SRC is never modified.",
        epilog="example: hadamard-port resnet152-394f9c45.pth resnet152_imagenet.npz",
        formatter_class=HelpFormatter)
    parser.add_argument("source", metavar="SRC", type=path_text, help=f"weights to convert ({SUPPORTED})")
    parser.add_argument("destination", metavar="DST", type=path_text, help="the .npz file to write")
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


def _as_float32(name, array, source):
    """A floating-point tensor as float32, refused when a finite value of it lies beyond float32's range (it
    would be stored as infinity) or when it is complex (float32 would drop the imaginary part): no model
    can use such a weight."""
    if array.dtype.kind == "c":
        raise WeightsError(f"{source}: tensor {name[:80]!r} holds complex numbers ({array.dtype}), and weights "
                           f"are stored as real float32; the file holds no model's weights")
    if array.dtype.kind != "f":
        return array
    with numpy.errstate(over="ignore"):
        cast = array.astype(numpy.float32)
    beyond = numpy.isinf(cast) & numpy.isfinite(array)
    if beyond.any():
        raise WeightsError(f"{source}: tensor {name[:80]!r} holds {array[beyond][0]:.6g}, beyond the range of "
                           f"float32 (±{numpy.finfo(numpy.float32).max:.4g}) in which weights are stored; the file "
                           f"is corrupt, or its weights need rescaling before they can be used")
    return cast


def _port(args):
    check_arguments(args)
    arrays = {name: _as_float32(name, array, args.source) for name, array in load_weights(args.source).items()}
    save_weights(args.destination, arrays, metadata={"source": os.path.basename(args.source)})
    parameters = sum(array.size for array in arrays.values())
    print(f"wrote {len(arrays)} tensors ({parameters:,} parameters) to {printable(args.destination)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
