"""Scores of one map or one set of token scores against what is known about the input (NumPy only).

A *map* is (H, W) or (3, H, W); every score reads its magnitude m(i,j) = Σ_c |map(c,i,j)|. A *mask* is a
bool (H, W) array of the pixels that belong to the object. Ties are shared, never broken by position:
a map that is the same everywhere scores what a uniform map scores.

    pointing game      share of the arg-max pixels of m that lie in the mask           (1: hit, 0: miss)
    mass in mask       Σ_{mask} m / Σ m                                                (chance: |mask| / HW)
    top-token credit   share of the top-scoring tokens that are target words           (chance: |targets| / ρ)
    token rank         1 + #{tokens scoring higher} + ½ #{other tokens scoring the same}
    Spearman ρ_s       Pearson correlation of the average ranks of two maps            (1 same, −1 reversed)
    deletion AUC       mean answer probability as the top k % of pixels by m are painted over
    bootstrap CI       percentile interval of the mean over resampled examples
"""
import numpy

DELETION_PERCENTS = tuple(range(1, 51))  # k = 1 … 50 % of the pixels


def magnitude(saliency_map):
    """m = Σ_c |map_c| for a (3, H, W) map, |map| for an (H, W) one; float64 (H, W)."""
    values = numpy.abs(numpy.asarray(saliency_map, dtype=numpy.float64))
    return values.sum(axis=0) if values.ndim == 3 else values


def mask_share(mask):
    """|mask| / (H·W): what a map spread evenly over the image scores in :func:`mass_in_mask`."""
    return float(numpy.asarray(mask, dtype=bool).mean())


def pointing_game(saliency_map, mask):
    """Share of the maximal pixels of m inside ``mask``: 1 when the single arg-max is in it, 0 when outside.

    Pixels tied at the maximum share the credit (an attention cell upsampled to a block ties all of its
    pixels), so a constant map scores :func:`mask_share`.
    """
    m = magnitude(saliency_map)
    peaks = m == m.max()
    return float(numpy.asarray(mask, dtype=bool)[peaks].mean())


def mass_in_mask(saliency_map, mask):
    """Σ_{(i,j) ∈ mask} m(i,j) / Σ_{i,j} m(i,j): the share of the map's total inside the mask.

    A map without mass (all zeros) is read as uniform and scores :func:`mask_share`.
    """
    m = magnitude(saliency_map)
    total = m.sum()
    if total == 0:
        return mask_share(mask)
    return float(m[numpy.asarray(mask, dtype=bool)].sum() / total)


def average_ranks(values):
    """Ranks 1 … n of the flattened ``values``, smallest first; tied values get the mean of their ranks."""
    values = numpy.asarray(values, dtype=numpy.float64).ravel()
    order = numpy.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = numpy.flatnonzero(numpy.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = numpy.r_[starts[1:], len(values)]           # each run of equal values is [start, end)
    mean_rank = (starts + 1 + ends) / 2.0               # mean of the ranks start+1 … end
    ranks = numpy.empty(len(values))
    ranks[order] = numpy.repeat(mean_rank, ends - starts)
    return ranks


def spearman(a, b):
    """Spearman's rank correlation ρ_s = corr(rank(a), rank(b)) over all entries, ties by average ranks.

    Undefined (NaN) when either input is constant: a map that is the same everywhere has no order.
    """
    ra, rb = average_ranks(a), average_ranks(b)
    if len(ra) != len(rb):
        raise ValueError(f"spearman needs inputs of one size, got {len(ra)} and {len(rb)}")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = numpy.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / norm) if norm > 0 else float("nan")


def top_token_credit(scores, targets):
    """Share of the top-scoring tokens whose index is in ``targets``: 1 when a target alone scores highest.

    Tokens tied at the top share the credit, so uniform scores earn |targets| / ρ, the chance level.
    """
    scores = numpy.asarray(scores, dtype=numpy.float64)
    top = numpy.flatnonzero(scores == scores.max())
    return float(numpy.isin(top, list(targets)).mean())


def token_rank(scores, index):
    """Rank of token ``index`` by score, 1 = highest; tokens tied with it share the ranks (average rank)."""
    scores = numpy.asarray(scores, dtype=numpy.float64)
    return float(len(scores) + 1 - average_ranks(scores)[index])


def deletion_order(saliency_map, rng):
    """Flat pixel indices, most important first by m; tied pixels in a random (seeded) order."""
    m = magnitude(saliency_map).ravel()
    return numpy.lexsort((rng.random(m.size), -m))


def deleted_images(image, order, color, percents=DELETION_PERCENTS):
    """uint8 (K, H, W, 3): ``image`` with the first k % of the pixels in ``order`` set to ``color``, per k."""
    height, width, _ = image.shape
    images = numpy.repeat(numpy.asarray(image)[None], len(percents), axis=0)
    for row, percent in enumerate(percents):
        count = round(height * width * percent / 100)
        ys, xs = numpy.unravel_index(order[:count], (height, width))
        images[row, ys, xs] = color
    return images


def deletion_auc(probabilities, percents=DELETION_PERCENTS, start=None):
    """Area under p(k) over k ∈ [0, max k] divided by max k (trapezoid rule): the mean probability, in [0, 1].

    ``start`` is p at k = 0 (the untouched image); without it the curve begins at the first k. A map that
    finds what the answer rests on makes the probability fall early and the area small.
    """
    k = numpy.asarray(percents, dtype=numpy.float64)
    p = numpy.asarray(probabilities, dtype=numpy.float64)
    if start is not None:
        k, p = numpy.r_[0.0, k], numpy.r_[start, p]
    return float(numpy.sum((p[1:] + p[:-1]) * numpy.diff(k)) / 2 / (k[-1] - k[0]))


def bootstrap_ci(values, seed=0, resamples=2000, level=0.95):
    """``{"mean", "low", "high", "n"}``: the mean of ``values`` and its percentile bootstrap interval.

    The n values are resampled with replacement ``resamples`` times (a generator seeded by ``seed``);
    low and high are the (1 − level)/2 and (1 + level)/2 quantiles of the resampled means. NaN values
    (an undefined score) are left out and not counted in n; no values at all give NaN everywhere.
    """
    values = numpy.asarray(values, dtype=numpy.float64).ravel()
    values = values[~numpy.isnan(values)]
    if len(values) == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    rng = numpy.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = numpy.quantile(means, [tail, 1 - tail])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": len(values)}
