"""The counterfactual question test, the shared-feature scenes, deletion/insertion fills and the word misses."""
import numpy
import pytest
from references import tiny_float64_model

from hadamard_min.data.images import normalize
from hadamard_min.data.twoshape import RGB, shared_pairs
from hadamard_min.evaluate import words
from hadamard_min.evaluate.counterfactual import switches
from hadamard_min.evaluate.insertion import blurred_fill, mixed_images, zero_fill
from hadamard_min.evaluate.run import Values


def test_shared_scenes_share_a_colour_or_a_kind_and_their_questions_differ_in_that_word():
    images, masks, pairs = shared_pairs(6, seed=1)
    assert images.shape == (6, 64, 64, 3) and masks.shape == (6, 2, 64, 64)
    for i, (a, b) in enumerate(pairs):
        words_a, words_b = a.split(), b.split()
        differing = [k for k in range(len(words_a)) if words_a[k] != words_b[k]]
        assert len(differing) == 1 and differing[0] == (4 if i % 2 == 0 else 3), (a, b)  # kind / colour
        color = words_a[3]
        assert not (masks[i, 0] & masks[i, 1]).any() and masks[i, 0].any() and masks[i, 1].any()
        centre = numpy.argwhere(masks[i, 0]).mean(axis=0).round().astype(int)
        if masks[i, 0][tuple(centre)]:                          # the shape's own colour at its centre
            assert tuple(images[i][tuple(centre)]) == RGB[color]


def test_a_map_on_the_named_shape_switches_and_a_fixed_map_never_does():
    _, masks, pairs = shared_pairs(4)
    pixels = numpy.zeros((4, 64, 64, 3), dtype=numpy.uint8)
    named = {pair[k]: masks[i, k].astype(float) for i, pair in enumerate(pairs) for k in (0, 1)}

    def follows(model, images, questions, rng):
        return numpy.stack([named[q] for q in questions])

    def fixed(model, images, questions, rng):
        return masks[:, 0].astype(float) + 0.5 * masks[:, 1]

    switch, share_a, share_b = switches(None, follows, pixels, masks, pairs, None)
    assert switch.tolist() == [1.0] * 4 and share_a.tolist() == [1.0] * 4 and share_b.tolist() == [1.0] * 4
    switch, share_a, share_b = switches(None, fixed, pixels, masks, pairs, None)
    assert switch.tolist() == [0.0] * 4
    numpy.testing.assert_allclose(share_a + share_b, 1.0)      # the same map: its shares are complements


def test_mixed_images_take_exactly_the_first_k_percent_from_the_second_image():
    rng = numpy.random.default_rng(0)
    first, second = (rng.integers(0, 256, (10, 10, 3), dtype=numpy.uint8) for _ in range(2))
    order = rng.permutation(100)
    images = mixed_images(first, second, order, (0, 30, 100))
    assert (images[0] == first).all() and (images[2] == second).all()
    taken = numpy.zeros(100, bool)
    taken[order[:30]] = True
    taken = taken.reshape(10, 10)
    assert (images[1][taken] == second[taken]).all() and (images[1][~taken] == first[~taken]).all()


def test_the_zero_fill_normalises_to_zero_and_the_blur_keeps_the_mean():
    model = tiny_float64_model()
    image = numpy.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=numpy.uint8)
    zero = normalize(numpy.ascontiguousarray(zero_fill(model, image)), model.mean, model.std)
    assert numpy.abs(zero).max() <= 0.5 / 255 / min(model.std) + 1e-12      # rounding to a uint8 colour
    blurred = blurred_fill(model, image)
    assert blurred.shape == image.shape and blurred.std() < image.std()
    assert blurred.mean() == pytest.approx(image.mean(), abs=3.0)


def test_misses_record_the_winners_position_and_class():
    values = Values()
    tokens = [["what", "color", "is", "the", "circle"], ["what", "shape", "is", "the", "red", "shape"],
              ["is", "there", "a", "shape"]]
    scores = [numpy.array([0, 1, 0, 0, 2.0]), numpy.array([0, 0, 0, 0, 1, 3.0]), numpy.zeros(4)]
    named = [[4], [4], []]
    words.add_misses(values, "m", tokens, scores, named)
    table = values.values["named word missed"]["m"]
    assert table["missed"] == [0.0, 1.0]                       # the third names nothing: not counted
    assert table["top is the last word"] == [1.0] and table["top: other nouns"] == [1.0]
    assert table["top: shape nouns"] == [0.0] and table["top: other"] == [0.0]
