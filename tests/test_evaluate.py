"""hadamard-evaluate end to end on a tiny model file, and the parts that run through the model: deletion,
text deletion, the randomisation cascade, the two-shape pairing and scores."""
import json
from types import SimpleNamespace

import numpy
import pytest

from hadamard_min.cli.evaluate import main
from hadamard_min.data.easyvqa import background_color, load_easy_vqa
from hadamard_min.data.text import UNK_INDEX, Vocabulary
from hadamard_min.data.twoshape import ANSWERS
from hadamard_min.evaluate import grounding
from hadamard_min.evaluate.faithfulness import answer_probabilities, deletion_curves, text_deletion
from hadamard_min.evaluate.metrics import deleted_images, deletion_order
from hadamard_min.evaluate.sanity import cascade, randomise, sanity_check
from hadamard_min.explain.baselines import centre_blob, network_inputs, saliency
from hadamard_min.io.model_files import save_model
from hadamard_min.models.vqa import build_vqa_model

CONFIG = {"backbone": {"layers": [1], "width": 4}, "image_size": 64, "word_dim": 4, "question_dim": 8,
          "joint_dim": 4, "glimpses": 2, "max_length": 12}


@pytest.fixture(scope="module")
def data():
    return load_easy_vqa("test")


@pytest.fixture(scope="module")
def model(data):
    return build_vqa_model(CONFIG, Vocabulary.build(data.questions), ANSWERS,
                           rng=numpy.random.default_rng(0)).eval()


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    save_model(path, model)
    return path


def batch(data, count=3):
    images = data.images[data.image_index[:count]]
    return images, data.questions[:count]


# ------------------------------------------------------------------------------------------ the command
def run_cli(model_file, out, *extra):
    return main(["--weights", str(model_file), "--examples", "4", "--out", str(out), *extra])


def test_cli_writes_the_report_and_numbers_within_their_ranges(model_file, tmp_path, capsys):
    out = tmp_path / "report"
    assert run_cli(model_file, out) == 0
    for name in ("report.md", "results.json", "examples.png", "deletion_curves.png", "sanity_check.png"):
        assert (out / name).stat().st_size > 0, name
    printed = capsys.readouterr().out
    assert "| hadamard |" in printed and "deletion AUC" in printed
    assert "## Pointing game" in (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    tables = results["tables"]
    assert set(tables) == {"pointing", "mass", "attention agreement", "deletion", "tokens", "word classes",
                           "text deletion", "deletion and insertion", "named word missed"}
    assert tables["attention agreement"]["attention (mean)"]["ρ_s with attention (mean)"]["mean"] == 1.0
    assert len(results["examples"]) == 4
    for table, column in [("pointing", "score"), ("mass", "score"), ("deletion", "auc"),
                          ("tokens", "named word on top"), ("text deletion", "top token → <unk>"),
                          ("text deletion", "top token → random word")]:
        rows = {name: columns[column] for name, columns in tables[table].items() if column in columns}
        floor = "uniform" if table in ("tokens", "text deletion") else "random"
        assert {"hadamard", floor} <= set(rows), table
        for name, summary in rows.items():
            assert all(0.0 <= v <= 1.0 for v in summary["values"]), (table, name)
            assert summary["low"] <= summary["mean"] <= summary["high"], (table, name)
    for curve in results["deletion_curves"].values():
        assert len(curve) == 51 and all(0.0 <= p <= 1.0 for p in curve)
    assert tables["deletion"]["random"]["Δ vs random"]["mean"] == 0.0
    for per_step in results["sanity"]["scores"].values():
        assert len(per_step) == len(results["sanity"]["steps"])
        values = [v for step in per_step for v in step["values"]]
        assert any(v is not None for v in values)  # None: ρ undefined, a map became constant (documented)
        assert all(-1.0 <= v <= 1.0 for v in values if v is not None)


def test_same_seed_same_json_and_the_folder_is_protected(model_file, tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["--weights", str(model_file), "--examples", "2", "--seed", "3", "--out", str(first)]) == 0
    assert main(["--weights", str(model_file), "--examples", "2", "--seed", "3", "--out", str(second)]) == 0
    assert (first / "results.json").read_text() == (second / "results.json").read_text()
    capsys.readouterr()
    assert main(["--weights", str(model_file), "--examples", "2", "--out", str(first)]) == 2
    assert "--force" in capsys.readouterr().err


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["--weights", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "model file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--examples", "0", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2


def test_two_shape_run_adds_question_dependence(model_file, tmp_path):
    assert run_cli(model_file, tmp_path / "two", "--data", "two-shape") == 0
    results = json.loads((tmp_path / "two" / "results.json").read_text())
    referent = results["tables"]["referent"]
    for column in ("referent share", "pointing: referent", "pointing: other"):
        assert all(0.0 <= v <= 1.0 for v in referent["hadamard"][column]["values"])
    assert referent["centre blob"]["movement"]["mean"] == 0.0  # a map that ignores the question never moves
    assert referent["hadamard"]["Δ vs hadamard"]["mean"] == 0.0
    switch = results["tables"]["referent switch"]
    assert switch["centre blob"]["shapes share a colour or a kind"]["mean"] == 0.0  # it cannot switch
    assert all(len(row[column]["values"]) == 4 for row in switch.values() for column in row)


# ------------------------------------------------------------------------------------------ faithfulness
def test_deletion_curves_are_the_probabilities_of_the_perturbed_images(model, data):
    images, questions = batch(data)
    maps = saliency(model, images, questions)
    start, curves = deletion_curves(model, images, questions, maps, numpy.random.default_rng(0))
    assert curves.shape == (3, 50)
    ids, lengths = model.encode_questions(questions)
    answers, p0 = answer_probabilities(model, images, ids, lengths)
    numpy.testing.assert_allclose(start, p0)
    rng = numpy.random.default_rng(0)
    order = deletion_order(maps[0], rng)                     # the same generator state as the first example
    tenth = deleted_images(images[0], order, background_color(images[0]), percents=(10,))
    _, p10 = answer_probabilities(model, tenth, ids[:1], lengths[:1], answers[:1])
    assert curves[0, 9] == pytest.approx(p10[0], rel=1e-5)


def test_text_deletion_changes_the_top_token(model, data, monkeypatch):
    images, questions = batch(data, 4)
    seen = []
    original = answer_probabilities

    def spy(model_, images_, ids, lengths, answers=None):
        seen.append(ids.copy())
        return original(model_, images_, ids, lengths, answers)

    monkeypatch.setattr("hadamard_min.evaluate.faithfulness.answer_probabilities", spy)
    scores = [numpy.eye(len(q.split()))[1] for q in questions]   # token 1 is the top token
    to_unk, to_random = text_deletion(model, images, questions, scores, numpy.random.default_rng(0))
    assert set(to_unk) <= {0.0, 1.0} and set(to_random) <= {0.0, 1.0}
    original_ids, unk_ids, random_ids = seen[0], seen[1], seen[2]
    assert (unk_ids[:, 1] == UNK_INDEX).all()
    assert (random_ids[:, 1] != original_ids[:, 1]).all() and (random_ids[:, 1] > UNK_INDEX).all()
    numpy.testing.assert_array_equal(numpy.delete(unk_ids, 1, axis=1), numpy.delete(original_ids, 1, axis=1))


# ------------------------------------------------------------------------------------------ sanity check
def test_randomise_replaces_only_the_named_groups_and_keeps_their_scale(model):
    import copy
    changed = copy.deepcopy(model)
    assert randomise(changed, ["mlb.linear_classif."], numpy.random.default_rng(0)) == 2
    for (name, before), (_, after) in zip(model.named_parameters(), changed.named_parameters()):
        if name.startswith("mlb.linear_classif."):
            assert not numpy.array_equal(before.data, after.data)
            assert after.data.std() == pytest.approx(before.data.std(), rel=0.5)
        else:
            numpy.testing.assert_array_equal(before.data, after.data)
    steps = [step for step, _ in cascade(model)]
    assert steps[0] == "classifier" and steps[-1] == "backbone stem" and "GRU" in steps


def test_randomise_drops_what_a_frozen_model_computed_from_its_weights(model, data):
    import copy

    import hadamard_min as hm
    frozen_model = copy.deepcopy(model).freeze()
    x = hm.Tensor(network_inputs(model, batch(data, 1)[0]))
    with hm.no_grad():
        before = frozen_model.backbone.features(x).data  # builds the inference forms from the trained weights
        randomise(frozen_model, ["backbone."], numpy.random.default_rng(0))
        after = frozen_model.backbone.features(x).data
        with hm.fast(False):
            unfolded = frozen_model.backbone.features(x).data
    assert not numpy.allclose(after, before)
    numpy.testing.assert_allclose(after, unfolded, rtol=1e-4, atol=1e-5 * numpy.abs(unfolded).max())


def test_sanity_check_keeps_the_model_and_a_model_free_map_stays_at_one(model, data):
    images, questions = batch(data, 2)
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    result = sanity_check(model, images, questions, {"blob": ("visual", centre_blob),
                                                     "saliency": ("visual", saliency)}, seed=0)
    assert result["steps"] == [step for step, _ in cascade(model)]
    assert all(rho == pytest.approx(1.0) for step in result["scores"]["blob"] for rho in step)
    assert min(min(step) for step in result["scores"]["saliency"]) < 0.9
    for name, p in model.named_parameters():
        numpy.testing.assert_array_equal(p.data, before[name])


# ------------------------------------------------------------------------------------------ grounding
def test_class_means_average_the_z_scores_of_each_word_class():
    tokens = ["is", "there", "a", "red", "circle", "in", "the", "image"]
    z = numpy.arange(8.0)
    means = grounding.class_means(tokens, z)
    assert means == {"shape nouns": 4.0, "other nouns": 7.0, "colour adjectives": 3.0, "verbs": 0.0,
                     "articles": 4.0}


def test_named_words_negations_and_templates():
    tokens = ["is", "there", "not", "a", "red", "circle"]
    assert grounding.named_word_positions(tokens) == [4, 5]
    assert grounding.negation_position(tokens) == 2
    assert grounding.negation_position(["what", "shape"]) is None
    assert grounding.template("What color is the triangle?") == grounding.template("what color is the circle")


def test_referent_scores_and_movement_on_hand_made_masks():
    masks = numpy.zeros((2, 6, 6), dtype=bool)
    masks[0, :2, :2], masks[1, 4:, 4:] = True, True
    on_first = numpy.where(masks[0], 1.0, 0.0)
    assert grounding.referent_share(on_first, masks, 0) == 1.0
    assert grounding.referent_share(on_first, masks, 1) == 0.0
    assert grounding.referent_pointing(on_first, masks, 0) == (1.0, 0.0)
    assert grounding.referent_share(numpy.zeros((6, 6)), masks, 0) == 0.5
    ramp = numpy.arange(36.0).reshape(6, 6)
    assert grounding.movement(ramp, ramp) == pytest.approx(0.0)
    assert grounding.movement(ramp, 35 - ramp) == pytest.approx(2.0)
    assert grounding.movement(numpy.ones((6, 6)), numpy.ones((6, 6))) == 0.0


def test_partner_questions_pair_the_same_template_about_the_other_shape():
    data = SimpleNamespace(
        questions=["what color is the circle?", "what color is the triangle?", "is there a red circle?",
                   "is there a blue triangle?", "is there a red square?", "what color is the circle?"],
        image_index=numpy.array([0, 0, 0, 0, 0, 1]), referent=numpy.array([0, 1, 0, 1, -1, 0]))
    partners = grounding.partner_questions(data, [0, 1, 2, 3, 4, 5])
    numpy.testing.assert_array_equal(partners, [1, 0, 3, 2, -1, -1])


def test_network_inputs_match_prepare_image(model, data):
    images, _ = batch(data, 2)
    numpy.testing.assert_array_equal(network_inputs(model, images)[1], model.prepare_image(images[1])[1])
