"""Lesson 7: train a small VQA model and watch its attention and explanation form, epoch by epoch.

The lesson calls the training command itself (``hadamard-train``), one epoch at a time with
``--stop-after`` and ``--resume`` (the learning-rate schedule spans all the epochs), and after every
epoch explains the same test question with the checkpoint so far: the loss and validation accuracy,
the answer, α (where the model looks), ∇v (eq. 2) and the word z-scores (eq. 11). The table measures
how much of α and of |∇v| lies on the shape (a map blind to the image puts the shape's share of the
pixels there), and every α panel of the figure shares one colour scale, so a flat map looks flat and
a peaked one peaked. A few epochs are not enough for every question (the shipped model trained for
20), so the lesson ends with the shipped model's answer.

    python lessons/07_train_and_watch.py            # all 3,600 images, 4 epochs (minutes)
    python lessons/07_train_and_watch.py --quick    # 200 images, 3 epochs of small batches (under a minute)

The model, its checkpoint and the figure go into --out (default: lessons/output).
"""
import json
from pathlib import Path

import _lesson
import numpy
from matplotlib import colormaps

from hadamard_min.cli.train import main as train_main
from hadamard_min.data.easyvqa import background_mask, load_easy_vqa
from hadamard_min.explain.figure import save_grid_figure
from hadamard_min.explain.maps import upsample_nearest
from hadamard_min.explain.methods import explain
from hadamard_min.io.model_files import load_model, manifest_path

OUTPUT = Path(__file__).resolve().parent / "output"


def mass_on_shape(heatmap, mask):
    """Share of the map's total that falls on the shape's pixels (1 = all of it)."""
    return float(heatmap[mask].sum() / heatmap.sum())


def alpha_on_shape(alpha, mask):
    """Share of the attention (mean over glimpses) on grid cells, drawn at pixel size, that cover the shape."""
    pixels = numpy.mean([upsample_nearest(a, *mask.shape) for a in alpha], axis=0)
    return mass_on_shape(pixels, mask)


def on_fixed_scale(alpha, top):
    """α (S, S) as an RGB picture with 0 → the colour map's bottom and ``top`` → its top, for every panel."""
    return colormaps["jet"](numpy.clip(alpha / top, 0, 1))[..., :3]


def main(argv=None):
    parser = _lesson.parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="200 images, 3 epochs of batches of 8 images")
    parser.add_argument("--out", type=_lesson.output_folder, default=OUTPUT,
                        help="folder for the model and the figure, created if missing in an existing folder")
    args = parser.parse_args(argv)
    _lesson.start(__doc__)
    _lesson.needs_easy_vqa()
    images, epochs, extra = (200, 3, ["--batch-images", "8", "--lr", "3e-3"]) if args.quick else (0, 4, [])
    args.out.mkdir(exist_ok=True)
    model_file = args.out / "lesson07.npz"

    test = load_easy_vqa("test")
    k = next(i for i, q in enumerate(test.questions) if q.startswith("what shape"))
    image, question, truth = test.images[test.image_index[k]], test.questions[k], test.answers[k]
    mask = background_mask(image)
    print(f"watching: '{question}' (true answer: {truth}); the shape covers {mask.mean():.0%} of the image")
    _lesson.predict("after one epoch, where does α look? When does the answer come right?")

    results, table = [], []
    for epoch in range(1, epochs + 1):
        argv = ["--out", str(model_file), "--limit-images", str(images), "--epochs", str(epochs),
                "--stop-after", str(epoch), "--force", *extra]
        if epoch > 1:
            argv.append("--resume")
        print("$ hadamard-train " + " ".join(argv), flush=True)
        if train_main(argv) != 0:
            raise SystemExit("training failed")
        history = json.loads(manifest_path(model_file).read_text())["history"][-1]
        result = explain(load_model(model_file), image, question)
        results.append(result)
        table.append((epoch, history["loss"], history["val_accuracy"], result.answer, result.probability,
                      alpha_on_shape(result.alpha, mask), mass_on_shape(result.heatmap, mask),
                      result.tokens[int(numpy.argmax(result.token_z))]))
        print()

    top = max(float(r.alpha.max()) for r in results)
    rows = [(f"epoch {epoch}: {r.answer}", [("input", r.image, "image")]
             + [(f"α{g + 1} (0 – {top:.2f})", on_fixed_scale(a, top), "image") for g, a in enumerate(r.alpha)]
             + [("∇v", r.pixel_map, "rgb"), ("|∇v|", r.heatmap, "heatmap")])
            for epoch, r in enumerate(results, 1)]
    figure = save_grid_figure(args.out / "07_epochs.png", rows)
    shipped = explain(load_model(), image, question)
    print("epoch   loss   val acc  answer      p     α on shape   |∇v| on shape   top word")
    for epoch, loss, val, answer, p, alpha, grad, word in table:
        print(f"{epoch:>5}  {loss:5.3f}   {val:5.3f}   {answer:<10} {p:5.3f}   {alpha:10.2f}   {grad:13.2f}   {word}")
    print(f"\n(a loss of ln 13 = {numpy.log(13):.2f} is a uniform guess over the 13 answers; a map blind to the "
          f"image puts\n {mask.mean():.2f}, the shape's share of the pixels, on the shape)")
    print(f"the shipped model (20 epochs): {shipped.answer} (p = {shipped.probability:.3f}), α on shape "
          f"{alpha_on_shape(shipped.alpha, mask):.2f}, |∇v| on shape {mass_on_shape(shipped.heatmap, mask):.2f}")
    print(f"figure (every α on the scale 0 – {top:.3f}): {figure}")


if __name__ == "__main__":
    main()
