"""Lesson 8: reading the evaluation report, and what it says about the paper's two claims.

The paper shows pictures. Pictures persuade; numbers can be checked. ``hadamard-evaluate`` runs the
Hadamard explanation and the methods it should be compared with (attention, saliency, guided backprop,
Grad-CAM, a random map and a centred blob) on the same test questions and scores every map the same way.
This lesson runs a small evaluation and reads each number out loud:

    pointing game, mass in mask   is the map on the object at all?           (floor: the mask's share)
    ρ with attention              claim 1: "the visual explanation resembles the attention maps"
                                  (floor: random; yardsticks: saliency and guided backprop)
    deletion AUC                  does the answer depend on the pixels the map picks?     (floor: random)
    sanity check                  does the map change when the model is destroyed, layer by layer?
                                  (Adebayo et al. 2018)
    z by word class               claim 2: "nouns are attended; wh-words, verbs, articles are not"
    text deletion                 does the answer depend on the token the scores pick?   (floor: uniform)

Each verdict compares 95 % bootstrap intervals: a method is *above* a floor only when its interval lies
entirely above the floor's. With few examples the honest verdict is often "cannot tell".
Run:  python lessons/08_reading_the_report.py [--quick] [--weights FILE]
(after ``pip install -e .``, or with ``PYTHONPATH=.``). Without the shipped model a throwaway one is
trained for a few seconds: its numbers show how to read the report, not what the paper's model does.
"""
import tempfile
import time
from pathlib import Path

import _lesson

from hadamard_min.data.easyvqa import load_easy_vqa
from hadamard_min.evaluate import DEFAULT_EXAMPLES, EvaluationSettings, evaluate
from hadamard_min.explain.baselines import visual_methods
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.model_files import SHIPPED_MODEL, load_model


def model_for_the_lesson(weights):
    if weights is not None or SHIPPED_MODEL.exists():
        path = weights or SHIPPED_MODEL
        print(f"model: {path}")
        return load_model(path)
    from hadamard_min.training.train import TrainSettings, train
    print("the shipped model is missing: training a throwaway model (1 epoch on 300 images, a few seconds);\n"
          "its numbers illustrate how to read the report, they say nothing about the paper's model.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "throwaway.npz"
        train(path, settings=TrainSettings(epochs=1, limit_images=300))
        return load_model(path)


def interval(summary):
    return f"{summary['mean']:6.3f} [{summary['low']:.3f}, {summary['high']:.3f}]"


def compare(method, floor, higher_is_better=True):
    """'above' / 'below' the floor when the intervals do not overlap, else 'cannot tell'."""
    if method["low"] > floor["high"]:
        return "above the floor" if higher_is_better else "worse than the floor"
    if method["high"] < floor["low"]:
        return "below the floor" if higher_is_better else "better than the floor"
    return "cannot tell apart from the floor"


def show(title, rows):
    print(f"\n{title}")
    for name, summary in rows:
        print(f"  {name:<28} {interval(summary)}")


def localisation(tables):
    mask = tables["pointing"]["(mask's share of the image)"]["score"]
    names = ("(mask's share of the image)", "hadamard", "attention (mean)", "saliency", "grad-cam", "random")
    for key, label in (("pointing", "pointing game: the map's peak"),
                       ("mass", "mass in mask: the map's mass")):
        show(f"{label} on the object (mean [95 % interval])", [(n, tables[key][n]["score"]) for n in names])
    print(f"  a map that ignores the image scores the mask's share, {mask['mean']:.3f}: the object covers\n"
          f"  that much of the picture, so only numbers well above it mean 'on the object'.")


def claim_one(tables):
    agreement = tables["attention agreement"]
    column = "ρ_s with attention (mean)"
    show("claim 1: Spearman ρ between |∇v| and the mean attention map, per example",
         [(name, agreement[name][column]) for name in ("hadamard", "saliency", "guided backprop", "random")])
    hadamard = agreement["hadamard"][column]
    verdict = compare(hadamard, agreement["random"][column])
    print(f"  Hadamard against the random map: {verdict}. ρ = 1 would be the same ordering of pixels;\n"
          f"  attention lives on an S×S grid, so even a perfect match is blocky.")
    rivals = {name: compare(hadamard, agreement[name][column]).replace("the floor", name)
              for name in ("saliency", "guided backprop")}
    print("  But a floor is not the only yardstick: the paper's claim is that the *Hadamard* map resembles\n"
          "  attention. Maps that never look at the Hadamard product (the plain gradient of the answer, and its\n"
          "  guided version) are the fair comparison:")
    for name, rival in rivals.items():
        print(f"    Hadamard against {name}: {rival}")
    if all(v.startswith("cannot tell") for v in rivals.values()):
        print("  So the resemblance is not specific to the Hadamard product: any input gradient of this model\n"
              "  resembles its attention about as much.")
        return f"{verdict}; not above saliency, guided backprop"
    return verdict


def faithfulness(tables):
    deletion = tables["deletion"]
    show("deletion AUC: mean p(answer) while the top 1 … 50 % of pixels by the map are painted over\n"
         "(lower is more faithful)",
         [(n, deletion[n]["auc"]) for n in ("hadamard", "saliency", "grad-cam", "random")])
    verdict = compare(deletion["hadamard"]["Δ vs random"], {"low": 0.0, "high": 0.0}, higher_is_better=False)
    print(f"  Hadamard minus random, paired on the same examples: {verdict}.")


def sanity(results):
    steps, scores = results["sanity"]["steps"], results["sanity"]["scores"]
    print("\nsanity check (Adebayo et al. 2018): Spearman ρ with the trained model's map after randomising the\n"
          "weights, from the output down. A map that does not change when the network is destroyed does not\n"
          "explain the network (lesson 04 saw guided backprop draw the shape from random weights).")
    _lesson.predict("when only the classifier P_o is randomised, how much does the Hadamard map change?")
    print("  steps: " + ", ".join(f"{k} = {step}" for k, step in enumerate(steps, 1)))
    print("  " + " " * 22 + "".join(f"{k:>7}" for k in range(1, len(steps) + 1)))
    for name in ("hadamard", "saliency", "guided backprop", "grad-cam", "text: hadamard"):
        print(f"  {name:<22}" + "".join(f"{s['mean']:7.2f}" for s in scores[name]))
    classifier = scores["hadamard"][0]["mean"]
    print(f"  after the classifier P_o is randomised the Hadamard map has ρ = {classifier:.2f} with the "
          f"original.")
    if classifier > 0.999:
        print("  ½‖V − F‖² never passes through P_o, so the map is the same whichever answer the model\n"
              "  gives: it shows what the joint representation attends to, not why this answer was chosen.")


def claim_two(tables):
    classes = tables["word classes"]["hadamard"]
    print("\nclaim 2: mean z-score of the Hadamard token scores by word class (eq. 11; 0 = the question's "
          "mean)")
    for name, summary in classes.items():
        print(f"  {name:<28} {interval(summary) if summary['n'] else '   (no such word in the sample)'}")
    tokens = tables["tokens"]
    column = "named word on top"
    show("named colour/shape word scored highest (uniform = chance)",
         [(name, tokens[name][column]) for name in ("hadamard", "gradient", "gradient × input", "uniform")])
    verdict = compare(tokens["hadamard"][column], tokens["uniform"][column])
    print(f"  Hadamard against uniform scores: {verdict}.")
    return verdict


def main(argv=None):
    parser = _lesson.parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="6 examples, 3 for the sanity check (a smoke run)")
    parser.add_argument("--weights", type=Path, default=None, help="model file (default: the shipped one)")
    args = parser.parse_args(argv)
    _lesson.start(__doc__)
    _lesson.needs_easy_vqa()
    try:
        model = model_for_the_lesson(args.weights)
    except WeightsError as error:  # no such file, or not a model: one line, as hadamard-evaluate says it
        parser.error(f"--weights: {error}")
    examples = 6 if args.quick else 32
    settings = EvaluationSettings(examples=examples, seed=0, sanity_examples=3 if args.quick else 8)
    print(f"evaluating {examples} easy-VQA test questions (hadamard-evaluate does this for the full report); "
          f"every map of\n{len(visual_methods(model))} methods, deletion curves, text scores, then the sanity "
          f"check on {settings.sanity_examples} of them:", flush=True)
    start = time.perf_counter()
    results, _ = evaluate(model, load_easy_vqa("test"), settings,
                          progress=lambda message: print(f"  … {message}", flush=True))
    print(f"  done in {time.perf_counter() - start:.0f} s")
    tables = results["tables"]
    print(f"the model answers {interval(results['accuracy'])} of them correctly; every map explains its "
          f"answer.")
    localisation(tables)
    first = claim_one(tables)
    faithfulness(tables)
    sanity(results)
    second = claim_two(tables)
    print(f"\n{'claim':<46} {'measured (hadamard)':>26}   verdict")
    print(f"{'1. the visual map resembles attention':<46} "
          f"{interval(tables['attention agreement']['hadamard']['ρ_s with attention (mean)']):>26}   {first}")
    print(f"{'2. named words get the top token score':<46} "
          f"{interval(tables['tokens']['hadamard']['named word on top']):>26}   {second}")
    print(f"\n{examples} examples give wide intervals; `hadamard-evaluate` ({DEFAULT_EXAMPLES} by default) "
          f"narrows them.")


if __name__ == "__main__":
    main()
