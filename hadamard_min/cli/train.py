"""``hadamard-train``: train the VQA model on easy-VQA (or two-shape scenes) with the engine itself."""
import os
import shlex
import sys
from pathlib import Path

from hadamard_min.cli.checks import DEVICE_HELP, DEVICES, SEED, integer, number, path, use_device
from hadamard_min.cli.errors import Parser, UsageError, interrupted_status, run
from hadamard_min.cli.parsing import HelpFormatter, add_version
from hadamard_min.escapes import printable
from hadamard_min.io.outputs import check_outputs, check_replaceable


def parser():
    from hadamard_min.training.train import DEFAULT_CONFIG, TrainSettings
    defaults = TrainSettings()
    parser = Parser(
        prog="hadamard-train",
        description="Train the VQA model (small ResNet + GRU + MLB attention) on easy-VQA with the engine itself. "
                    "Writes OUT (weights, config, vocabulary, answers) and OUT's manifest .json (sha256, command, "
                    "seed, versions, time, test accuracy); a checkpoint OUT-stem.checkpoint.npz after every epoch.",
        epilog="example: hadamard-train --out mine.npz --epochs 2 --limit-images 200",
        formatter_class=HelpFormatter)
    parser.add_argument("--out", type=path, default=Path("easyvqa_mlb.npz"), help="model file to write (.npz)")
    parser.add_argument("--data", choices=("easy-vqa", "two-shape"), default="easy-vqa", help="data set")
    parser.add_argument("--epochs", type=integer(1, 100_000), default=defaults.epochs,
                        help="passes over the training images")
    parser.add_argument("--batch-images", type=integer(1, 100_000), default=defaults.batch_images,
                        help="images per step (each brings all of its questions)")
    parser.add_argument("--lr", type=number(0, 10), default=defaults.lr, help="Adam learning rate")
    parser.add_argument("--clip", type=number(0, 1e6), default=defaults.clip, help="gradient norm clipping")
    parser.add_argument("--seed", type=SEED, default=defaults.seed,
                        help="seed of the initial weights and the batch order")
    parser.add_argument("--limit-images", type=integer(0), default=0,
                        help="train on the first N images only (0: all)")
    parser.add_argument("--width", type=integer(1, 4096), default=DEFAULT_CONFIG["backbone"]["width"],
                        help="ResNet width")
    parser.add_argument("--joint-dim", type=integer(1, 65_536), default=DEFAULT_CONFIG["joint_dim"],
                        help="MLB joint size")
    parser.add_argument("--stop-after", type=integer(0), default=0,
                        help="stop after this many epochs and write OUT; the learning-rate schedule still spans "
                             "--epochs, and --resume continues it (0: run all epochs)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT's checkpoint")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing OUT, its manifest and its checkpoint (an earlier run's: other "
                             "files under those names are refused)")
    parser.add_argument("--device", choices=DEVICES, default=None, help=DEVICE_HELP)
    return add_version(parser)


def main(argv=None):
    args = parser().parse_args(argv)
    return run(lambda: _train(args, argv), "hadamard-train", device=args.device)


def check_arguments(args):
    """The files this run writes (OUT, its manifest, its checkpoint), refused where they would destroy
    something without --force; returns the checkpoint's path."""
    from hadamard_min.io.model_files import manifest_path
    from hadamard_min.training.train import checkpoint_path

    out = args.out
    if out.suffix != ".npz":  # also ".", "/" and "", which name no file at all
        raise UsageError(f"--out must be a file name ending in .npz, not {str(out)!r}")
    checkpoint = checkpoint_path(out)
    if args.resume and not checkpoint.exists():
        raise FileNotFoundError(f"nothing to resume: no checkpoint {checkpoint}")
    if not args.force and not args.resume:  # --resume continues the run that wrote them: it replaces them
        for path, what in ((out, "--out"), (manifest_path(out), "the manifest written next to --out")):
            if os.path.lexists(path):  # a link, even to nothing, is something of the user's
                raise FileExistsError(f"{path} exists ({what}); pass --force to overwrite it, or choose another --out")
        if os.path.lexists(checkpoint) and not args.resume:
            raise FileExistsError(f"{checkpoint} exists (an earlier run's checkpoint); pass --resume to continue "
                                  f"it, --force to start again over it, or choose another --out")
    check_outputs({"--out": out, "its manifest": manifest_path(out), "its checkpoint": checkpoint})
    check_replaceable({"--out": out, "its checkpoint": checkpoint}, "an .npz file", b"PK")  # --force too:
    check_replaceable({"its manifest": manifest_path(out)}, "a JSON object", b"{")  # only what a run wrote
    return checkpoint


def _train(args, argv):
    from hadamard_min.training.train import DEFAULT_CONFIG, TrainSettings, train

    checkpoint = check_arguments(args)
    use_device(args.device)
    out = args.out
    settings = TrainSettings(epochs=args.epochs, batch_images=args.batch_images, lr=args.lr, clip=args.clip,
                             seed=args.seed, stop_after=args.stop_after, limit_images=args.limit_images)
    config = {**DEFAULT_CONFIG, "backbone": {**DEFAULT_CONFIG["backbone"], "width": args.width},
              "joint_dim": args.joint_dim}
    command = "hadamard-train " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        manifest = train(out, config, settings, resume_from=checkpoint if args.resume else None, command=command,
                         dataset=_dataset(args.data))
    except KeyboardInterrupt as error:
        where = f"last good checkpoint: {checkpoint} (continue with --resume)" if checkpoint.exists() else \
            "no epoch finished, nothing saved"
        print(f"\nhadamard-train: interrupted; {where}", file=sys.stderr)
        return interrupted_status(error)
    test = manifest["test_accuracy"]
    spent = f"{manifest['training_seconds']:.0f} s of training" + (" in all, the runs resumed included"
                                                                  if args.resume else "")
    print(f"wrote {printable(out)} (sha256 {manifest['sha256'][:12]}…) after {spent}")
    print("test accuracy: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "count"))
    return 0


def _dataset(name):
    from hadamard_min.data.easyvqa import load_easy_vqa
    if name == "easy-vqa":
        return load_easy_vqa
    from hadamard_min.data.twoshape import load_two_shape
    return load_two_shape


if __name__ == "__main__":
    sys.exit(main())
