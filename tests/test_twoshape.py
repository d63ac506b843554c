"""The two-shape data set: reproducible, and every question's referent is the shape it names."""
import numpy

from hadamard_min.data.twoshape import RGB, load_two_shape


def test_same_seed_same_set_other_seed_other_set():
    a, b = load_two_shape("val", seed=0), load_two_shape("val", seed=0)
    assert numpy.array_equal(a.images, b.images) and a.questions == b.questions
    c = load_two_shape("val", seed=1)
    assert not numpy.array_equal(a.images, c.images)


def test_splits_are_disjoint_and_sized():
    train, val, test = load_two_shape("train"), load_two_shape("val"), load_two_shape("test")
    assert len(train.images) == 3600 and len(val.images) == 400 and len(test.images) == 1000
    assert not set(train.image_ids) & set(val.image_ids)
    assert len(train.answer_list) == 13 and set(train.answers) <= set(train.answer_list)


def test_answers_and_referents_agree_with_the_drawn_shapes():
    data = load_two_shape("val")
    for q in range(0, len(data), 7):
        image = data.images[data.image_index[q]]
        names = data.shape_names[data.image_index[q]]
        k = data.referent[q]
        question, answer = data.questions[q], data.answers[q]
        if k < 0:
            assert answer == "no"
            continue
        color, shape = names[k]
        mask = data.shape_masks[data.image_index[q], k]
        inside = image[mask & ~numpy.roll(mask, 1, axis=0)]  # pixels of that shape
        assert numpy.all(numpy.abs(inside.astype(int) - RGB[color]).max(axis=1) < 60)
        if question.startswith("what color"):
            assert shape in question and answer == color
        elif question.startswith("what shape"):
            assert color in question and answer == shape
        else:
            assert shape in question and (answer == "yes") == (color in question)


def test_the_two_shapes_never_overlap():
    data = load_two_shape("test")
    assert not numpy.any(data.shape_masks[:, 0] & data.shape_masks[:, 1])
    assert numpy.all(data.shape_masks.sum(axis=(2, 3)) > 50)
