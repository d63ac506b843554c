"""``hadamard-evaluate --quick``: a first look on fewer questions and a smaller sanity check, reproducible."""
import json

from test_evaluate import data, model, model_file  # noqa: F401  (the fixtures: a tiny model on easy-VQA)

from hadamard_min.cli.evaluate import QUICK, command_line, main, parser, settings
from hadamard_min.evaluate.run import DEFAULT_EXAMPLES, EvaluationSettings


def test_quick_takes_fewer_questions_unless_told_and_a_smaller_sanity_check():
    default, quick = parser().parse_args([]), parser().parse_args(["--quick"])
    assert settings(default) == EvaluationSettings(examples=DEFAULT_EXAMPLES)
    assert settings(quick) == EvaluationSettings(examples=QUICK.examples, sanity_examples=QUICK.sanity_examples)
    assert QUICK.examples < DEFAULT_EXAMPLES and QUICK.sanity_examples < EvaluationSettings.sanity_examples
    told = parser().parse_args(["--quick", "--examples", "50"])
    assert settings(told).examples == 50 and settings(told).sanity_examples == QUICK.sanity_examples
    assert command_line(quick).endswith("--examples 32 --seed 0 --quick")
    assert "--quick" not in command_line(default)


def test_a_quick_report_says_so_and_records_its_settings(model_file, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "quick"
    assert main(["--weights", str(model_file), "--quick", "--examples", "2", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["sanity_examples"] == QUICK.sanity_examples
    assert "--quick" in capsys.readouterr().out and "--quick" in (out / "report.md").read_text()


def test_an_empty_data_is_refused_as_a_path_not_read_as_this_folder(tmp_path, monkeypatch, capsys):
    """``--data ""`` was the folder the command runs in (pathlib reads "" as "."): '. has no questions.jsonl', or,
    where the folder held one, an evaluation of data the user never named."""
    monkeypatch.chdir(tmp_path)
    try:
        parser().parse_args(["--data", ""])
    except SystemExit as stop:
        assert stop.code == 2
    else:
        raise AssertionError("--data '' was taken")
    assert capsys.readouterr().err == ("hadamard-evaluate: error: argument --data: expected a path, not an empty one "
                                       "(see hadamard-evaluate --help)\n")
