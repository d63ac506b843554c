"""Every metric of hadamard_min.evaluate on hand-made cases whose answer is known."""
import math

import numpy
import pytest

from hadamard_min.data.easyvqa import background_color
from hadamard_min.evaluate.metrics import (
    average_ranks,
    bootstrap_ci,
    deleted_images,
    deletion_auc,
    deletion_order,
    magnitude,
    mask_share,
    mass_in_mask,
    pointing_game,
    spearman,
    token_rank,
    top_token_credit,
)

SIZE = 8


def square_mask():
    """A 3×3 object at rows/cols 2-4 of an 8×8 image (9 of 64 pixels)."""
    mask = numpy.zeros((SIZE, SIZE), dtype=bool)
    mask[2:5, 2:5] = True
    return mask


def test_magnitude_sums_absolute_values_over_channels(rng):
    signed = rng.normal(size=(3, SIZE, SIZE))
    numpy.testing.assert_allclose(magnitude(signed), numpy.abs(signed).sum(axis=0))
    numpy.testing.assert_allclose(magnitude(signed[0]), numpy.abs(signed[0]))


def test_pointing_game_hit_miss_and_shared_ties(rng):
    mask = square_mask()
    inside = rng.uniform(0, 1, (3, SIZE, SIZE))
    inside[:, 3, 3] = -5.0                    # the largest |·| is inside, whatever the sign
    assert pointing_game(inside, mask) == 1.0
    outside = rng.uniform(0, 1, (SIZE, SIZE))
    outside[7, 0] = 2.0
    assert pointing_game(outside, mask) == 0.0
    two_peaks = numpy.zeros((SIZE, SIZE))
    two_peaks[3, 3] = two_peaks[7, 7] = 1.0   # one peak in, one out: half the credit
    assert pointing_game(two_peaks, mask) == 0.5
    assert pointing_game(numpy.ones((SIZE, SIZE)), mask) == pytest.approx(9 / 64)


def test_mass_in_mask_all_inside_none_inside_and_by_hand(rng):
    mask = square_mask()
    all_inside = numpy.where(mask, rng.uniform(0.1, 1, (SIZE, SIZE)), 0.0)
    assert mass_in_mask(all_inside, mask) == pytest.approx(1.0)
    assert mass_in_mask(numpy.where(mask, 0.0, 1.0), mask) == 0.0
    half = numpy.zeros((3, SIZE, SIZE))
    half[0, 3, 3], half[2, 0, 0] = 2.0, -6.0  # 2 inside, 6 outside
    assert mass_in_mask(half, mask) == pytest.approx(0.25)
    assert mass_in_mask(numpy.ones((SIZE, SIZE)), mask) == pytest.approx(mask_share(mask))
    assert mass_in_mask(numpy.zeros((SIZE, SIZE)), mask) == pytest.approx(9 / 64)


def test_average_ranks_share_ties():
    numpy.testing.assert_allclose(average_ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    numpy.testing.assert_allclose(average_ranks([[3, 3], [3, 3]]), [2.5] * 4)


def test_spearman_self_reverse_constant_and_the_no_tie_formula(rng):
    a = rng.normal(size=(SIZE, SIZE))
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, numpy.exp(a)) == pytest.approx(1.0)  # any increasing transform keeps the order
    assert math.isnan(spearman(a, numpy.ones_like(a)))
    x, y = rng.normal(size=30), rng.normal(size=30)
    d = average_ranks(x) - average_ranks(y)
    n = len(x)
    assert spearman(x, y) == pytest.approx(1 - 6 * (d ** 2).sum() / (n * (n ** 2 - 1)))
    with pytest.raises(ValueError, match="one size"):
        spearman(x, y[:5])


def test_top_token_credit_and_chance_level():
    assert top_token_credit([0.1, 3.0, 0.2], targets=[1]) == 1.0
    assert top_token_credit([5.0, 3.0, 0.2], targets=[1]) == 0.0
    assert top_token_credit([3.0, 3.0, 0.2], targets=[1]) == 0.5
    assert top_token_credit(numpy.zeros(5), targets=[1, 3]) == pytest.approx(2 / 5)


def test_token_rank_top_bottom_and_ties():
    scores = [0.5, 2.0, -1.0, 0.5]
    assert token_rank(scores, 1) == 1.0
    assert token_rank(scores, 2) == 4.0
    assert token_rank(scores, 0) == 2.5
    assert token_rank(numpy.zeros(6), 4) == 3.5  # uniform: the middle rank (ρ + 1) / 2


def test_deletion_order_puts_large_magnitudes_first_and_breaks_ties_by_seed():
    m = numpy.zeros((4, 4))
    m[1, 2], m[3, 0] = 5.0, -3.0
    order = deletion_order(m, numpy.random.default_rng(0))
    assert list(order[:2]) == [1 * 4 + 2, 3 * 4 + 0]
    assert sorted(order) == list(range(16))
    again = deletion_order(m, numpy.random.default_rng(0))
    other = [tuple(deletion_order(m, numpy.random.default_rng(s))[2:]) for s in range(1, 6)]
    numpy.testing.assert_array_equal(order, again)
    assert any(tail != tuple(order[2:]) for tail in other)


def test_deleted_images_paint_the_top_pixels_with_the_colour(rng):
    image = rng.integers(0, 200, (10, 10, 3), dtype=numpy.uint8)
    order = rng.permutation(100)
    color = numpy.array([255, 255, 255], dtype=numpy.uint8)
    out = deleted_images(image, order, color, percents=(1, 10, 50))
    for row, count in enumerate((1, 10, 50)):
        painted = numpy.flatnonzero(numpy.all(out[row] == 255, axis=-1))
        assert sorted(painted) == sorted(order[:count])
    numpy.testing.assert_array_equal(image, image.copy())  # the input is untouched


def test_deletion_auc_by_hand():
    assert deletion_auc([0.7] * 50) == pytest.approx(0.7)
    k = numpy.arange(1, 51)
    assert deletion_auc(1 - k / 50, start=1.0) == pytest.approx(0.5)
    assert deletion_auc([0.2, 0.4], percents=(10, 20), start=0.6) == pytest.approx(
        ((0.6 + 0.2) / 2 * 10 + (0.2 + 0.4) / 2 * 10) / 20)


def test_deletion_of_the_object_first_beats_the_object_last_on_a_toy_model():
    """Toy model: p(answer) = the share of the object's pixels still there. Deleting by a map that covers the
    object drops p to 0 early; a map that covers the background first leaves p at 1 much longer."""
    image = numpy.full((20, 20, 3), 240, dtype=numpy.uint8)
    image[5:9, 5:10] = (200, 20, 20)                      # a 20-pixel object (5 % of the image)
    mask = numpy.any(image != 240, axis=-1)
    color = background_color(image)

    def toy_probability(images):
        return numpy.any(images != color, axis=-1)[:, mask].mean(axis=1)

    rng = numpy.random.default_rng(0)
    curves = {}
    for name, saliency_map in {"object first": mask * 1.0, "object last": (~mask) * 1.0}.items():
        deleted = deleted_images(image, deletion_order(saliency_map, rng), color)
        curves[name] = deletion_auc(toy_probability(deleted), start=1.0)
    # 4 object pixels go per percent: p = 1, 0.8, 0.6, 0.4, 0.2, 0, 0, …  → area 2.5 over k ∈ [0, 50]
    assert curves["object first"] == pytest.approx(2.5 / 50)
    assert curves["object last"] == pytest.approx(1.0)


def test_background_color_is_the_common_border_colour(rng):
    image = numpy.full((12, 12, 3), (250, 240, 230), dtype=numpy.uint8)
    image[0, :3] = (1, 2, 3)
    image[4:8, 4:8] = (9, 9, 9)
    numpy.testing.assert_array_equal(background_color(image), (250, 240, 230))


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_n(rng):
    small = bootstrap_ci(rng.normal(0.3, 1.0, 20), seed=0)
    large = bootstrap_ci(rng.normal(0.3, 1.0, 2000), seed=0)
    for summary in (small, large):
        assert summary["low"] < summary["mean"] < summary["high"]
    assert (large["high"] - large["low"]) < (small["high"] - small["low"]) / 4
    assert large["low"] < 0.3 < large["high"]
    assert small["n"] == 20 and large["n"] == 2000


def test_bootstrap_is_seeded_and_leaves_out_nan():
    values = [0.1, 0.9, 0.5, float("nan"), 0.4]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3)["n"] == 4
    assert bootstrap_ci(values, seed=3)["mean"] == pytest.approx(0.475)
    constant = bootstrap_ci([0.25] * 7)
    assert constant["low"] == constant["mean"] == constant["high"] == 0.25
    empty = bootstrap_ci([float("nan")])
    assert empty["n"] == 0 and math.isnan(empty["mean"])
