"""What the commands' shared option parsing refuses, each in one line naming the option and the value: a number
that Python's int()/float() read but the user did not write in ASCII digits ("１０", "1_000", "٣"), and an option
that takes a value given twice (argparse silently keeps the last)."""
import pytest

from hadamard_min.cli import bench, exercises, explain, train
from hadamard_min.cli.checks import integer, number

PARSE = {"explain": lambda argv: explain.parser().parse_args(argv),
         "train": lambda argv: train.parser().parse_args(argv), "bench": bench.parse_args,
         "exercises": lambda argv: exercises.parser().parse_args(argv)}


def parse(command, argv):
    return PARSE[command](argv)


def refused(command, argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse(command, argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("command, option", [
    ("explain", "--top-k"), ("explain", "--batch-size"), ("explain", "--workers"), ("explain", "--outlier-perc"),
    ("train", "--epochs"), ("train", "--lr"), ("train", "--seed"), ("bench", "--depth"), ("bench", "--runs"),
])
@pytest.mark.parametrize("value", ["１０", "1_0", "٣", "1\u0660"])
def test_a_number_not_in_ascii_digits_is_refused_naming_the_option_and_the_value(command, option, value, capsys):
    err = refused(command, [option, value], capsys)
    assert f"argument {option}:" in err and repr(value) in err and "ASCII digits" in err, err


def test_a_number_in_ascii_digits_is_read_as_documented():
    assert integer(1, 10)("10") == 10 and integer(0)("+3") == 3 and integer(-5)("-5") == -5
    assert number(0, 10)("1e-4") == 1e-4 and number(0, 10)("1E+1") == 10 and number(0, 10)(".5") == 0.5
    assert number(0, 10)("5.") == 5.0 and number(0, 100, True, False)("0") == 0
    args = parse("train", ["--lr", "3e-4", "--epochs", "7"])
    assert args.lr == 3e-4 and args.epochs == 7


def test_a_number_out_of_range_still_says_its_range_alone(capsys):
    err = refused("explain", ["--outlier-perc", "100"], capsys)
    assert "expected a number in [0, 100), not '100'" in err and "ASCII" not in err, err
    err = refused("explain", ["--batch-size", "0"], capsys)
    assert "--batch-size: expected an integer of at least 1, not '0'" in err, err


@pytest.mark.parametrize("command, argv, option", [
    ("explain", ["--out", "a.png", "--out=b.png"], "--out"),
    ("explain", ["--top-k", "3", "--top-k", "3"], "--top-k"),           # the same value twice: still a slip
    ("explain", ["--batch", "p.jsonl", "--workers", "1", "--workers", "2"], "--workers"),  # an argument group's
    ("train", ["--lr", "1e-3", "--epochs", "2", "--lr", "1e-4"], "--lr"),
    ("bench", ["--batch", "1", "2", "--batch", "3"], "--batch"),         # nargs="+": one list, not two
    ("exercises", ["grade", "--time-limit", "3", "--time-limit", "4"], "--time-limit"),  # a subcommand's
])
def test_an_option_given_twice_is_refused_naming_it(command, argv, option, capsys):
    err = refused(command, argv, capsys)
    assert f"error: {option} given twice" in err and "give it once" in err, err


def test_options_given_once_and_flags_given_twice_are_taken():
    args = parse("explain", ["--out", "a.png", "--top-k", "3", "--plain", "--plain"])
    assert str(args.out) == "a.png" and args.top_k == 3 and args.plain
    parser = explain.parser()
    parser.parse_args(["--out", "a.png"])
    assert str(parser.parse_args(["--out", "b.png"]).out) == "b.png"  # each parse starts afresh


def test_batch_dash_is_refused_in_one_line_not_read_as_a_file_named_dash(capsys):
    assert explain.main(["--batch", "-", "--out-dir", "never"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--batch -: the pairs are not read from standard input" in err, err


def test_a_comment_line_in_a_batch_is_reported_as_one(tmp_path):
    from hadamard_min.cli.errors import UsageError
    from hadamard_min.cli.explain_batch import parse_line, read_lines
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(b'# my questions\n\n  \n{"image": "a.png", "question": "q?"}\n')
    lines = read_lines(pairs)
    assert [number for number, _ in lines] == [1, 4]  # blank lines skipped, the comment kept to be reported
    with pytest.raises(UsageError, match="JSON Lines has no comments"):
        parse_line(lines[0][1], tmp_path)
    assert parse_line(lines[1][1], tmp_path) == (tmp_path / "a.png", "q?")


@pytest.mark.parametrize("sizes, said", [
    ("word_dim=６２０", "word_dim: expected an integer of at least 1 written in ASCII digits"),
    ("glimpses=1_0", "glimpses: expected an integer of at least 1 written in ASCII digits"),
    ("glimpses=2,glimpses=4", "glimpses given twice in 'glimpses=2,glimpses=4'"),
    ("glimpses", "expected NAME=INT"),
])
def test_mlb_sizes_are_numbers_in_ascii_digits_each_given_once(sizes, said, capsys):
    """--mlb-sizes holds numbers of its own: int() read "６２０" as 620 and kept the last of a name given twice."""
    err = refused("explain", ["--mlb-sizes", sizes], capsys)
    assert "argument --mlb-sizes: " + said in err, err
    assert parse("explain", ["--mlb-sizes", " word_dim = 620 ,glimpses=2"]).mlb_sizes == {"word_dim": 620,
                                                                                         "glimpses": 2}
