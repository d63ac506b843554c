import sys

import numpy
import pytest

from hadamard_min.data.easyvqa import (
    COLORS,
    QUESTION_TYPES,
    DataError,
    background_mask,
    iterate_batches,
    load_easy_vqa,
    question_type,
)
from hadamard_min.data.images import load_image

easy_vqa = pytest.importorskip("easy_vqa")


@pytest.fixture(scope="module")
def splits():
    return {split: load_easy_vqa(split) for split in ("train", "val", "test")}


def test_split_sizes(splits):
    train, val, test = splits["train"], splits["val"], splits["test"]
    assert len(train) + len(val) == 38_575
    assert len(test) == 9_673
    assert len(train.images) + len(val.images) == 4_000 and len(test.images) == 1_000
    assert 0.05 < len(val) / (len(train) + len(val)) < 0.15
    for data in splits.values():
        assert data.images.dtype == numpy.uint8 and data.images.shape[1:] == (64, 64, 3)
        assert len(data.questions) == len(data.answers) == len(data.image_index) == len(data.answer_ids)
        assert data.image_index.min() == 0 and data.image_index.max() == len(data.images) - 1


def test_train_and_val_share_no_image(splits):
    train_ids, val_ids = set(splits["train"].image_ids.tolist()), set(splits["val"].image_ids.tolist())
    assert not train_ids & val_ids
    assert all(i % 10 == 0 for i in val_ids) and all(i % 10 != 0 for i in train_ids)
    assert train_ids | val_ids == set(easy_vqa.get_train_image_paths())


def test_questions_point_at_their_images_and_answers(splits):
    for split, (questions, answers, image_ids) in [("val", easy_vqa.get_train_questions()),
                                                  ("test", easy_vqa.get_test_questions())]:
        data = splits[split]
        paths = easy_vqa.get_test_image_paths() if split == "test" else easy_vqa.get_train_image_paths()
        kept_ids = set(data.image_ids.tolist())
        expected = [(q, a, i) for q, a, i in zip(questions, answers, image_ids) if i in kept_ids]
        assert data.questions == [q for q, _, _ in expected] and data.answers == [a for _, a, _ in expected]
        for k in numpy.random.default_rng(0).choice(len(data), 20, replace=False):
            row = data.image_index[k]
            assert data.image_ids[row] == expected[k][2]
            numpy.testing.assert_array_equal(data.images[row], load_image(paths[expected[k][2]]))


def test_answers(splits):
    for data in splits.values():
        assert data.answer_list == easy_vqa.get_answers() and len(data.answer_list) == 13
        assert [data.answer_list[i] for i in data.answer_ids] == data.answers


def test_question_types_cover_all_three(splits):
    for data in splits.values():
        types = data.question_types()
        assert set(types) == set(QUESTION_TYPES)
        for kind, answer in zip(types, data.answers):
            assert (kind == "yes/no") == (answer in ("yes", "no"))
            assert (kind == "color") == (answer in COLORS)


def test_question_type_from_the_question_alone(splits):
    data = splits["test"]
    assert [question_type(q) for q in data.questions] == data.question_types()
    assert question_type("What color is the circle?") == "color"
    assert question_type("What shape is present?") == "shape"
    assert question_type("Is there a red shape?") == "yes/no"


def test_unknown_split_and_missing_package(monkeypatch):
    with pytest.raises(DataError, match="use one of train, val, test"):
        load_easy_vqa("validation")
    monkeypatch.setitem(sys.modules, "easy_vqa", None)  # makes `import easy_vqa` fail
    with pytest.raises(DataError, match="pip install easy-vqa"):
        load_easy_vqa("test")


def test_background_mask_of_real_images(splits):
    data = splits["val"]
    for image in data.images[:20]:
        mask = background_mask(image)
        assert mask.shape == (64, 64) and mask.dtype == bool
        assert 0 < mask.sum() < 64 * 64
        corners = [mask[0, 0], mask[0, -1], mask[-1, 0], mask[-1, -1]]
        assert not all(corners)
        colors, counts = numpy.unique(image.reshape(-1, 3), axis=0, return_counts=True)
        shape_color = colors[numpy.argsort(counts)[-2]]  # the second most common colour is the shape's
        assert mask[numpy.all(image == shape_color, axis=-1)].all()


def test_background_mask_is_dilated_by_one_pixel():
    image = numpy.full((7, 8, 3), (10, 20, 30), dtype=numpy.uint8)
    image[3, 4] = (10, 20, 31)
    image[6, 0] = (0, 0, 0)  # a corner pixel: its dilation is clipped at the border
    expected = numpy.zeros((7, 8), dtype=bool)
    expected[2:5, 3:6] = True
    expected[5:7, 0:2] = True
    numpy.testing.assert_array_equal(background_mask(image), expected)


def test_background_is_the_most_common_border_colour():
    image = numpy.full((8, 8, 3), (0, 0, 255), dtype=numpy.uint8)  # blue: 22 of the 28 border pixels
    image[0, :] = (255, 0, 0)  # the top row (and the first pixel) red
    image[5, 5] = (0, 255, 0)
    expected = numpy.zeros((8, 8), dtype=bool)
    expected[0:2, :] = True
    expected[4:7, 4:7] = True
    numpy.testing.assert_array_equal(background_mask(image), expected)


def test_iterate_batches():
    batches = list(iterate_batches(10, 4))
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(b) for b in iterate_batches(10, 4, drop_last=True)] == [4, 4]
    shuffled = list(iterate_batches(103, 10, numpy.random.default_rng(7)))
    order = numpy.concatenate(shuffled)
    assert sorted(order.tolist()) == list(range(103)) and order.dtype == numpy.int64
    assert order.tolist() != list(range(103))
    again = numpy.concatenate(list(iterate_batches(103, 10, numpy.random.default_rng(7))))
    numpy.testing.assert_array_equal(order, again)
    with pytest.raises(ValueError, match="at least 1"):
        list(iterate_batches(5, 0))
