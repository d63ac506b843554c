"""EfficientNet-Lite0 against plain torch in float64 on every shipped photograph: how far float32 gets.

    python -m hadamard_min.oracle.photo_parity [PHOTO ...]    (needs the [imagenet] and [parity] extras)

PHOTO: image files to use instead of the shipped photographs (e.g. more of scikit-image's samples), or a
shipped photograph's name; each is a row under its name as given.

Per photograph, for the model's top class: the relative error (max |ours − ref| / max |ref|) of our float32
logits and guided input gradient against the float64 torch network on the same weights, and the same
error of torch's own float32 guided gradient. A guided gradient is discontinuous at every ReLU6 kink
(dy·[0 < x < 6]): where an input lies within float32 rounding of 0 or 6 the two precisions can take
different branches, so any float32 implementation, torch's included, can be far from float64 there.
Without torch or the weights, or given a file that is not an image, it says so in one line (status 2).
"""
import sys
from pathlib import Path

import numpy

from hadamard_min.cli.errors import UsageError, run
from hadamard_min.core.function import no_grad
from hadamard_min.core.tensor import Tensor
from hadamard_min.data.imagenet import PHOTOS
from hadamard_min.escapes import printable
from hadamard_min.explain.classifier import saliency
from hadamard_min.io.weights import load_weights
from hadamard_min.models.efficientnet import LITE0_STAGES, efficientnet_lite0, lite0_weights_file
from hadamard_min.oracle.torch_efficientnet import torch_efficientnet_lite


def relative_error(ours, reference):
    return float(numpy.abs(ours - reference).max() / numpy.abs(reference).max())


def torch_guided(torch, forward, x, target, dtype):
    image = torch.tensor(x[None], dtype=dtype, requires_grad=True)
    logits = forward(image)
    logits[0, target].backward()
    return logits.detach().double().numpy()[0], image.grad.double().numpy()[0]


def photographs(arguments):
    """``{row name: path}``: each argument under its name as given (``a/x.png`` and ``b/x.png`` are two rows,
    as are ``x.png`` and ``x.jpg``), a shipped photograph's name where no such file is; none: the shipped ones."""
    if any(not argument for argument in arguments):  # pathlib reads "" as ".", the current folder
        raise UsageError("a PHOTO argument is empty: give an image file's path or a shipped photograph's name")
    return {printable(argument): PHOTOS[argument] if argument in PHOTOS and not Path(argument).exists()
            else Path(argument) for argument in arguments} or dict(PHOTOS)


def main(argv=None):
    arguments = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(arguments) and not any(Path(argument).exists() for argument in arguments):
        print(__doc__.strip())  # was "image not found: --help", after loading torch and the weights
        return 0
    try:
        import torch
    except ImportError:
        raise UsageError("this comparison runs PyTorch, which is not installed: pip install 'hadamard-min[parity]'") \
            from None
    photos = photographs(arguments)
    state = load_weights(lite0_weights_file())
    model = efficientnet_lite0()
    in64 = torch_efficientnet_lite(torch, state, LITE0_STAGES, "guided")
    in32 = torch_efficientnet_lite(torch, state, LITE0_STAGES, "guided", dtype=torch.float32)
    width = max(12, *(len(name) + 2 for name in photos))
    print(f"{'photograph':<{width}}{'class':>6}{'logits':>10}{'guided':>10}{'torch f32 guided':>18}"
          "   (relative to float64)")
    worst = [0.0, 0.0, 0.0]
    for name, path in photos.items():
        x = model.prepare_image(path)[1]
        with no_grad():
            logits = model(Tensor(x[None])).numpy()[0]
        target = int(logits.argmax())
        reference_logits, reference = torch_guided(torch, in64, x.astype(numpy.float64), target, torch.float64)
        _, theirs32 = torch_guided(torch, in32, x, target, torch.float32)
        errors = (relative_error(logits, reference_logits),
                  relative_error(saliency(model, x, target, "guided"), reference),
                  relative_error(theirs32, reference))
        worst = [max(w, e) for w, e in zip(worst, errors)]
        print(f"{name:<{width}}{target:>6}" + "".join(f"{e:>{w}.1e}" for e, w in zip(errors, (10, 10, 18))))
    print(f"{'largest':<{width + 6}}" + "".join(f"{e:>{w}.1e}" for e, w in zip(worst, (10, 10, 18))))


if __name__ == "__main__":
    sys.exit(run(main, "photo_parity"))
