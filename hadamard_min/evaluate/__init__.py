"""Does the explanation explain? Metrics, faithfulness, sanity checks and question dependence, for the
methods of ``explain.baselines`` (the Hadamard explanation and those it is compared with).

    metrics       pointing game, mass in mask, token scores, Spearman ρ, deletion, bootstrap intervals
    faithfulness  deletion of the top pixels / the top token, through the model
    insertion     deletion and insertion over 0 … 100 % under three named fills (Petsiuk et al. 2018)
    sanity        cascading model randomisation (Adebayo et al. 2018)
    grounding     named words, negations, and the two-shape referent scores
    counterfactual  one image asked about each of its shapes: the referent switch, two variants
    words         where the token scores miss the named word, and which word wins
    run           everything over a seeded sample of test questions
    report        report.md, figures and results.json; ``hadamard-evaluate`` (``cli/evaluate.py``) is the command
"""
from hadamard_min.evaluate.metrics import (
    bootstrap_ci,
    deletion_auc,
    mass_in_mask,
    pointing_game,
    spearman,
    token_rank,
    top_token_credit,
)
from hadamard_min.evaluate.run import DEFAULT_EXAMPLES, EvaluationError, EvaluationSettings, evaluate
from hadamard_min.explain.baselines import FLOORS, TEXT_METHODS, VISUAL_METHODS, visual_methods

__all__ = ["DEFAULT_EXAMPLES", "FLOORS", "TEXT_METHODS", "VISUAL_METHODS", "EvaluationError",
           "EvaluationSettings", "bootstrap_ci", "deletion_auc", "evaluate", "mass_in_mask", "pointing_game",
           "spearman", "token_rank", "top_token_credit", "visual_methods"]
