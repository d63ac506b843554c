"""The report folder: ``report.md`` (one table per metric), figures, and the raw numbers as ``results.json``.

Every cell of a table is ``mean [low, high]``: the mean over the examples and its 95 % bootstrap interval.
Rows in parentheses are references, not methods (the chance level a map must beat).
"""
import math
import textwrap

import numpy
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hadamard_min.evaluate.metrics import magnitude
from hadamard_min.explain.baselines import FLOORS
from hadamard_min.explain.figure import save_grid_figure
from hadamard_min.io.atomic import json_ready, json_text, together, write_atomically, write_text


def _paragraph(text):
    return " ".join(text.split())


# key → (title, what the number is and how to read it)
TABLES = {
    "pointing": ("Pointing game", _paragraph("""
        Share of examples whose map peaks (Σ_c|map| at its maximum; tied maxima share the credit) on the
        object: the pixels that differ from the background, dilated by one pixel. Higher is better; a map
        that ignores the image scores the mask's share of the image.""")),
    "mass": ("Mass in mask", _paragraph("""
        Share of Σ_c|map| that falls on the object. Higher is better; compare with the mask's share of the
        image, which a map spread evenly scores.""")),
    "attention agreement": ("Agreement with attention", _paragraph("""
        The paper's first claim: the Hadamard map looks like the attention maps α_g. Spearman ρ between
        Σ_c|map| and the mean of the α_g upsampled to the image, per example (1: the same order of pixels,
        0: unrelated). The attention row is 1 by construction; the floors show what no relation scores.""")),
    "deletion": ("Deletion, 1–50 %, background-colour fill (faithfulness)", _paragraph("""
        The top k % of pixels by the map (k = 1 … 50) are painted with the background colour and the
        probability of the model's answer is read again; AUC is the mean of that curve from k = 0 to 50 (the
        area divided by 50). Lower is better: the answer rests on what the map found. Δ vs random is the
        paired difference with the random map on the same examples; below 0 beats the floor. One fill
        only: see the next table for 0–100 % under three fills, and insertion.""")),
    "deletion and insertion": ("Deletion and insertion, 0–100 %, three fills (Petsiuk et al. 2018)", _paragraph("""
        Deletion: the top k % of pixels by the map (k = 0, 10, …, 100) are replaced by the fill's pixels;
        insertion: the fill gets the top k % of the image's pixels back. AUC is the mean probability of the
        model's answer (on the untouched image) over k ∈ [0, 100] %. Deletion: lower is better; insertion:
        higher is better. Fills: the background colour (the border's most common colour), the
        normalisation's zero (the colour round(255·mean), input 0 after normalisation), a blurred image
        (Gaussian, radius H/16). A ranking that holds under one fill only is a statement about that fill.""")),
    "tokens": ("Token grounding", _paragraph("""
        Named word on top: over questions that name a colour or a shape, the share where a named word has
        the top score (ties share). Rank of not/no: on negated questions, the rank of the negation among the
        question's tokens (1 = top); the question length row gives the scale. The uniform row is chance.""")),
    "word classes": ("Token scores by word class", _paragraph("""
        The paper's second claim: nouns get high z-scores, wh-words, verbs, adjectives and articles low.
        Each cell is the mean z-score (eq. 11, each method's scores standardised over the question) of the
        question's tokens of that class, averaged over the questions that have one. Positive: above the
        question's average token.""")),
    "text deletion": ("Text deletion (faithfulness)", _paragraph("""
        Share of questions whose answer changes when the top-scoring token is replaced by <unk> or by a
        random vocabulary word. Higher is better; uniform scores pick a random token: the floor.""")),
    "referent": ("Question dependence (two shapes)", _paragraph("""
        Questions about one of two shapes. Referent share: m(referent) / (m(referent) + m(other)) with
        m = Σ_c|map| (0.5: no preference). Pointing: share of the map's peak on the referent / on the other
        shape. Movement: 1 − Spearman ρ between the maps of two questions of the same template about the two
        shapes of one image (0: the map ignores the question; two unrelated maps, like two draws of the
        random floor, score 1). Δ vs hadamard, Δ vs attention α2: paired differences of the referent share
        on the same questions.""")),
    "referent switch": ("Counterfactual questions: the referent switch (two shapes)", _paragraph("""
        One image asked about each of its two shapes (the same template, only the named shape changes). A
        pair counts when the map's mass is mostly on the named shape under both questions (referent share
        above 0.5 twice): the map switched with the question. A map that does not change with the question
        scores 0 (its mass cannot lie mostly on both shapes); the random floor about 1/4. Shapes differ:
        pairs of the test split. Shapes share a colour or a kind: generated scenes asked "is there a {color}
        {shape}?" about each shape, the two questions one word apart (the kind when the colours match, the
        colour when the kinds match), so attention cannot win by colour alone.""")),
    "named word missed": ("Where the words miss (eq. 10-11 and the gradients)", _paragraph("""
        Over questions that name a colour or a shape: the share where the top token (ties: the first) is
        not a named word, and for those misses the share whose winner is the question's last word and the
        share of each word class among the winners. The GRU reads left to right and the question vector is
        its last state, so ∂Q/∂x_t reaches word t through the later steps, each multiplying by the update
        gate or the candidate's Jacobian: a late word has a short path, an early one a long, damped path,
        whatever it means. A high "last word" share is that tilt.""")),
}
MAIN_VISUAL = [("pointing", "score", "pointing"), ("mass", "score", "mass in mask"),
               ("attention agreement", "ρ_s with attention (mean)", "ρ with attention"),
               ("deletion", "auc", "deletion AUC, bg 1–50 % ↓"), ("deletion", "Δ vs random", "Δ AUC vs random ↓")]
MAIN_TWO_SHAPE = [("referent", "referent share", "referent share"), ("referent", "movement", "movement"),
                  ("referent switch", "shapes differ", "switch"),
                  ("referent switch", "shapes share a colour or a kind", "switch, shared colour or kind")]
MAIN_TEXT = [("tokens", "named word on top", "named word on top"),
             ("word classes", "shape nouns", "z of shape nouns"),
             ("tokens", "rank of not/no", "rank of not/no ↓"),
             ("text deletion", "top token → <unk>", "answer change (top → <unk>)")]


def cell(summary):
    """``mean [low, high]`` with three decimals; an undefined mean is a dash; a mean of one value has no
    interval (resampling one value gives it back every time: [v, v] would read as certainty)."""
    if summary is None or summary["mean"] is None or math.isnan(summary["mean"]):
        return "—"
    if summary.get("n") == 1:
        return f"{summary['mean']:.3f} (one value)"
    return f"{summary['mean']:.3f} [{summary['low']:.3f}, {summary['high']:.3f}]"


def markdown_table(rows, columns, first="method"):
    """``rows``: {row name: {column: summary}}; ``columns``: [(column key, header)]."""
    lines = ["| " + " | ".join([first, *(header for _, header in columns)]) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for name, values in rows.items():
        if all(cell(values.get(key)) == "—" for key, _ in columns):
            continue
        lines.append("| " + " | ".join([name, *(cell(values.get(key)) for key, _ in columns)]) + " |")
    return "\n".join(lines)


def main_tables(results):
    """The summary tables (visual, text) as Markdown: the ones printed and shown in the README."""
    tables = results["tables"]
    visual = MAIN_VISUAL + (MAIN_TWO_SHAPE if results["settings"]["two_shape"] else [])
    text = MAIN_TEXT
    out = []
    for spec in (visual, text):
        names = list(dict.fromkeys(name for table, _, _ in spec for name in tables.get(table, {})))
        rows = {name: {header: tables.get(table, {}).get(name, {}).get(column)
                       for table, column, header in spec} for name in names}
        out.append(markdown_table(rows, [(header, header) for _, _, header in spec]))
    return out


def metric_table(results, key):
    rows = results["tables"][key]
    columns = list(dict.fromkeys(column for values in rows.values() for column in values))
    return markdown_table(rows, [(column, column) for column in columns])


def sanity_table(results):
    sanity = results["sanity"]
    rows = {name: {step: summary for step, summary in zip(sanity["steps"], per_step)}
            for name, per_step in sanity["scores"].items()}
    return markdown_table(rows, [(step, f"+ {step}") for step in sanity["steps"]])


def _count(number, noun):
    """"1 question", "2 questions"."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def markdown_report(results, command):
    """The whole ``report.md`` as a string."""
    settings, accuracy = results["settings"], results["accuracy"]
    visual, text = main_tables(results)
    parts = [
        REPORT_TITLE, "",
        f"Command: `{command}`", "",
        f"Model file: `{results['model']['file']}` (sha256 {results['model']['sha256'][:12]}…). Data: "
        + (f"the {settings['data_name']} {settings['data']} split" if settings["data"] else
           f"the folder {settings['data_name']}")
        + f", {_count(len(results['examples']), 'question')} drawn with seed {settings['seed']}; the model "
        f"answers {cell(accuracy)} of {'it' if len(results['examples']) == 1 else 'them'} correctly. Every map "
        f"explains the model's own answer. Cells are mean [95 % bootstrap interval].", "",
        *(line for note in results.get("notes", []) for line in (f"Note: {note}.", "")),
        "## Main table: visual explanations", "", visual, "",
        "## Main table: textual explanations", "", text, ""]
    for key, (title, note) in TABLES.items():
        if key in results["tables"]:
            parts += [f"## {title}", "", note, "", metric_table(results, key), ""]
            if key == "deletion":
                parts += ["![deletion curves](deletion_curves.png)", ""]
    parts += [
        "## Sanity check: cascading model randomisation", "",
        "Parameters are replaced by Gaussian noise of the same mean and spread, layer group by layer group, "
        "from the classifier down to the backbone's stem (each column adds one group to the previous ones). "
        "Each cell is Spearman's ρ between |map| of the randomised model and of the trained one, over "
        f"{results['sanity']['examples']} examples (token scores likewise, over the question's tokens). "
        "A method that explains the model falls towards 0; one that stays near 1 does not depend on the "
        "randomised layers.", "", sanity_table(results), "",
        "![sanity check](sanity_check.png)", "",
        "## Examples", "", "![examples](examples.png)", ""]
    return "\n".join(parts)


def save_example_grid(path, figure):
    """One row per example: the image, then Σ_c|map| of every method."""
    rows = []
    for item in figure:
        question = "\n".join(textwrap.wrap(item["question"], 26))
        panels = [(f"answer: {item['answer']}", item["image"], "image")]
        panels += [(name, magnitude(saliency_map), "heatmap") for name, saliency_map in item["maps"].items()]
        rows.append((question, panels))
    return save_grid_figure(path, rows)


FLOOR_STYLE = "--"


def _draw_lines(ax, series, x, xticks=None):
    """One line per entry of ``series``; floors dashed; 20 distinct colours."""
    tab20 = colormaps["tab20"].colors
    colors = tab20[0::2] + tab20[1::2]          # the ten dark colours first, then their light partners
    for k, (name, y) in enumerate(series.items()):
        style = FLOOR_STYLE if name in FLOORS else "-"
        ax.plot(x, y, style, color=colors[k % len(colors)], marker="o" if xticks else None, markersize=3,
                label=name)
    if xticks:
        ax.set_xticks(x, xticks, rotation=30, ha="right")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def _save(fig, path):
    FigureCanvasAgg(fig)
    fig.tight_layout()
    return write_atomically(path, lambda stream: fig.savefig(stream, format="png"))


def save_deletion_plot(path, results):
    """Mean p(answer) against the share of pixels deleted, one line per method."""
    fig = Figure(figsize=(8, 5), dpi=120, facecolor="white")
    ax = fig.add_subplot(1, 1, 1)
    _draw_lines(ax, results["deletion_curves"], [0, *results["settings"]["deletion_percents"]])
    ax.set_xlabel("pixels deleted: the top k % by the map, painted with the background colour")
    ax.set_ylabel("mean probability of the model's answer")
    ax.set_title("Deletion: the lower and earlier the curve, the more faithful the map")
    return _save(fig, path)


def save_sanity_plot(path, results):
    """Mean Spearman ρ with the trained model's map after each randomisation step: visual and text methods."""
    sanity = results["sanity"]
    steps = ["trained", *sanity["steps"]]
    series = {name: [1.0, *(numpy.nan if s["mean"] is None else s["mean"] for s in per_step)]
              for name, per_step in sanity["scores"].items()}
    fig = Figure(figsize=(13, 5), dpi=120, facecolor="white")
    for k, (title, keep) in enumerate((("visual maps", lambda n: not n.startswith("text: ")),
                                       ("token scores", lambda n: n.startswith("text: ")))):
        ax = fig.add_subplot(1, 2, k + 1)
        _draw_lines(ax, {n: y for n, y in series.items() if keep(n)}, list(range(len(steps))), steps)
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("parameters randomised, from the output down to")
        ax.set_ylabel("mean Spearman ρ with the trained model")
        ax.set_title(f"Cascading randomisation: {title}")
    return _save(fig, path)


REPORT_FILES = ("results.json", "report.md", "examples.png", "deletion_curves.png", "sanity_check.png")
REPORT_TITLE = "# Does the explanation explain?"  # report.md's first line: what --force may replace


def write_report(out_dir, results, figure, command):
    """Write report.md, results.json, examples.png, deletion_curves.png, sanity_check.png into ``out_dir``."""
    results = json_ready(results)
    with together():  # all five files, or none of them
        write_text(out_dir / "results.json", json_text(results, indent=1))
        write_text(out_dir / "report.md", markdown_report(results, command))
        save_example_grid(out_dir / "examples.png", figure)
        save_deletion_plot(out_dir / "deletion_curves.png", results)
        save_sanity_plot(out_dir / "sanity_check.png", results)
    return results
