"""Lesson 07: train a small VQA model and watch its attention and explanation form, epoch by epoch.

The lesson calls the training command itself (``hadamard-train``), one epoch at a time with
``--stop-after`` and ``--resume`` (the learning-rate schedule spans all the epochs), and after every
epoch explains the same test question with the checkpoint so far:
answer, α (where the model looks), ∇v (eq. 2) and the word z-scores (eq. 11). α starts almost flat
and sharpens epoch by epoch, ∇v gathers on the shape, and the answer settles; a few epochs are not
enough for every question (the shipped model trained for 20), so the lesson ends with the shipped
model's answer to the same question.

    python lessons/07_train_and_watch.py            # all 3,600 images, 4 epochs (a few minutes)
    python lessons/07_train_and_watch.py --quick    # 64 images, 2 epochs (seconds)
"""
import argparse
import tempfile
from pathlib import Path

import numpy

from hadamard_min.cli.train import main as train_main
from hadamard_min.data.easyvqa import background_mask, load_easy_vqa
from hadamard_min.explain.figure import save_grid_figure
from hadamard_min.explain.hadamard import explain
from hadamard_min.io.model_files import load_model


def mass_on_shape(heatmap, mask):
    """Share of the map's total that falls on the shape's pixels (1 = all of it)."""
    return float(heatmap[mask].sum() / heatmap.sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 images, 2 epochs")
    parser.add_argument("--out", type=Path, default=None, help="folder for the model and the figure (default: temp)")
    args = parser.parse_args()
    images, epochs = (64, 2) if args.quick else (0, 4)  # 0: every training image
    folder = args.out or Path(tempfile.mkdtemp(prefix="lesson07-"))
    model_file = folder / "lesson07.npz"

    test = load_easy_vqa("test")
    k = next(i for i, q in enumerate(test.questions) if q.startswith("what shape"))
    image, question, truth = test.images[test.image_index[k]], test.questions[k], test.answers[k]
    mask = background_mask(image)
    print(f"watching: '{question}' (true answer: {truth}); the shape covers {mask.mean():.0%} of the image\n")

    rows, table = [], []
    for epoch in range(1, epochs + 1):
        argv = ["--out", str(model_file), "--limit-images", str(images), "--epochs", str(epochs),
                "--stop-after", str(epoch), "--force"]
        if epoch > 1:
            argv.append("--resume")
        print("$ hadamard-train " + " ".join(argv))
        if train_main(argv) != 0:
            raise SystemExit("training failed")
        result = explain(load_model(model_file), image, question)
        alpha_peak = float(result.alpha.max())
        on_shape = mass_on_shape(result.heatmap, mask)
        top_word = result.tokens[int(numpy.argmax(result.token_z))]
        table.append((epoch, result.answer, result.probability, alpha_peak, on_shape, top_word))
        rows.append((f"epoch {epoch}: {result.answer}", [("input", result.image, "image")]
                     + [(f"α{g + 1}", a, "heatmap") for g, a in enumerate(result.alpha)]
                     + [("∇v", result.pixel_map, "rgb"), ("|∇v|", result.heatmap, "heatmap")]))
        print()

    shipped = explain(load_model(), image, question)
    figure = save_grid_figure(folder / "lesson07_epochs.png", rows)
    print("epoch  answer      p      max α   ∇v mass on shape   top word")
    for epoch, answer, p, peak, on_shape, word in table:
        print(f"{epoch:>5}  {answer:<10} {p:5.3f}   {peak:5.3f}   {on_shape:16.2f}   {word}")
    print(f"\n(uniform attention would be {1 / result.alpha[0].size:.3f}; the shape's share of pixels is "
          f"{mask.mean():.2f})")
    print(f"the shipped model (20 epochs): {shipped.answer} (p = {shipped.probability:.3f}), "
          f"∇v mass on shape {mass_on_shape(shipped.heatmap, mask):.2f}")
    print(f"figure: {figure}")


if __name__ == "__main__":
    main()
