"""The exercises grade honestly: a blank stub fails with its NotImplementedError and gives no formula away,
the reference solution passes, and every plausible wrong answer in tests/exercise_mutants/ fails with a
message that names what is wrong; the hint on the formula comes only at the second level.

These tests read the repository's stubs only where they must (the blank-stub checks) and skip a stub that
holds a learner's answers: solving the exercises in place leaves the project's suite green. .ci/run checks
the pristine stubs of every checkout.
"""
import ast
import importlib
import re
from pathlib import Path

import pytest
from exercise_mutants import MUTANTS

pytest.importorskip("hypothesis", reason="the exercises' graders draw their cases with Hypothesis")

EXERCISES = Path(__file__).resolve().parents[1] / "lessons" / "exercises"
NAMES = sorted(p.stem for p in EXERCISES.glob("ex[0-9][0-9]_*.py"))
VALUES = re.compile(r"expected -?[\d.]+(e[+-]\d+)?( \(central differences\))?, got -?[\d.]+(e[+-]\d+)?")
ASK_FOR_HINTS = "(a hint on the formula: --hints or HADAMARD_HINTS=1)"

# What would give each answer away, in any spelling the stubs used: none may be in a blank stub's text.
FORMULAS = {
    "ex01_scalar_engine": ["+=", "local · value.grad", "reversed(", "explicit stack", "grad = 1"],
    "ex02_unbroadcast": ["sum", "keepdims", "Σ"],
    "ex03_tanh_softmax": ["1 − y²", "1 - y", "dy − Σ", "dy ∘ y", "diag(y) − y", "keepdims"],
    "ex04_matmul": ["dy @ b", "@ dy", "swapaxes", "dy bᵀ", "aᵀ dy", "bᵀ", "aᵀ"],
    "ex05_conv_col2im": ["+=", "s·Ho", "dxpad[", "dcols[:, :, i, j]", "cut the padding"],
    "ex06_maxpool": ["+=", "dxpad[", "argmax ==", "dy ·", "routed to"],
    "ex07_relu_rules": ["[dy > 0]", "dy · [x > 0]", "dy·[x > 0]", "dy > 0", "mask &"],
    "ex08_gru_cell": ["dh' ∘ z", "dn =", "dz =", "da_n", "1 − n²", "z(1 − z)", "@ W_ih", "@ w_ih"],
    "ex09_mlb": ["softmax over", "P_αᵀ", "σ(U_q", "· 1ᵀ", "Σ_s α", "Q ∘ V", "σ(W_q", "P_oᵀ F", "transpose to",
                 "reshape to"],
    "ex10_deviation_gradients": ["½‖", "retain_graph", ".detach()", "I.grad = None", "two passes", "(V − F)",
                                 "(Q − F)"],
    "ex11_postprocess": [".mean()", ".std()", "Σ_d", "|∇q", "− μ", "(s − ", "g.std"],
}


@pytest.fixture
def grading(monkeypatch):
    monkeypatch.syspath_prepend(str(EXERCISES))
    monkeypatch.delenv("HADAMARD_HINTS", raising=False)
    monkeypatch.delenv("HADAMARD_SOLUTIONS", raising=False)
    return importlib.import_module("grading")


def grade_function(name):
    return importlib.import_module(f"test_{name}").grade


def blank_texts(name, folder=EXERCISES):
    """The docstrings of a stub and the messages of its NotImplementedErrors (None: answers written in it)."""
    tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
    texts = [ast.get_docstring(node) or "" for node in ast.walk(tree)
             if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))]
    messages = [node.exc.args[0].value for node in ast.walk(tree)
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                and getattr(node.exc.func, "id", "") == "NotImplementedError"]
    solution = ast.parse((folder / "solutions" / f"{name}.py").read_text(encoding="utf-8"))
    blanks = len(defined(solution) & defined(tree))   # what the solution fills (not its own helpers)
    return (texts + messages) if len(messages) >= blanks else None


def defined(tree):
    """The functions of a module and the methods of its classes, as "name" and "Class.name"."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{item.name}" for item in node.body if isinstance(item, ast.FunctionDef)}
    return names


def written_in(stub):
    """``stub``'s text with each blank answered as a learner does: the raise replaced by a line of code."""
    lines = stub.split("\n")
    for k, line in enumerate(lines):
        if "raise NotImplementedError(" in line:
            lines[k] = line[:line.index("raise")] + "return None"
            j = k + 1
            while lines[j].strip().startswith('"'):   # the message's continuation lines
                lines[j], j = "", j + 1
    return "\n".join(lines)


def formulas_in(name, text):
    return [fragment for fragment in FORMULAS[name] if fragment in text]


def test_there_are_eleven_exercises_each_with_a_grader_a_solution_and_formulas_to_keep_out():
    assert len(NAMES) == 11 and set(FORMULAS) == set(NAMES)
    for name in NAMES:
        assert (EXERCISES / f"test_{name}.py").exists() and (EXERCISES / "solutions" / f"{name}.py").exists()


@pytest.mark.parametrize("name", NAMES)
def test_a_blank_stub_asks_without_giving_the_formula(name):
    texts = blank_texts(name)
    if texts is None:
        pytest.skip(f"lessons/exercises/{name}.py holds a learner's answers (.ci/run checks the blank stubs)")
    found = {fragment: text for text in texts for fragment in formulas_in(name, text)}
    assert not found, f"{name} gives the formula away: {found}"


BLANK = '''"""Exercise 12: a stub as the others are."""


class Op:
    def forward(self, x):
        return x

    def backward(self, dy):
        """∂L/∂x."""
        raise NotImplementedError("exercise 12: write Op.backward: the tuple (∂L/∂x,) from dy, "
                                  "the shape of x")


def helper(x):
    """Given."""
    return x


def score(values):
    raise NotImplementedError("exercise 12: write score")
'''
ANSWERS = '''class Op:
    def backward(self, dy):
        return (dy,)


def own_helper(values):
    return values


def score(values):
    return own_helper(values)
'''


def test_a_stub_answered_in_place_is_told_from_a_blank_one(tmp_path):
    """What keeps the suite green when a learner writes in lessons/exercises/ itself: such a stub is skipped."""
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "ex12_op.py").write_text(ANSWERS, encoding="utf-8")
    (tmp_path / "ex12_op.py").write_text(BLANK, encoding="utf-8")
    assert blank_texts("ex12_op", tmp_path) is not None
    for answered in (written_in(BLANK), BLANK.replace('raise NotImplementedError("exercise 12: write score")',
                                                      "return values")):
        compile(answered, "ex12_op.py", "exec")
        (tmp_path / "ex12_op.py").write_text(answered, encoding="utf-8")
        assert blank_texts("ex12_op", tmp_path) is None


def test_the_formula_check_can_fail():
    """The check above, on what the stubs used to say."""
    assert formulas_in("ex03_tanh_softmax", "exercise 3: Tanh.backward — (dy · (1 − y²),)") == ["1 − y²"]
    assert formulas_in("ex07_relu_rules", "guided dy·[x > 0]·[dy > 0]") == ["[dy > 0]", "dy·[x > 0]", "dy > 0"]


@pytest.mark.parametrize("name", NAMES)
def test_a_blank_stub_fails_with_its_message(grading, name):
    if blank_texts(name) is None:
        pytest.skip(f"lessons/exercises/{name}.py holds a learner's answers (.ci/run checks the blank stubs)")
    with pytest.raises(NotImplementedError, match=f"^exercise {int(name[2:4])}: write "):
        grade_function(name)(grading.load(name, solutions=False))


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_solution_passes(grading, name):
    grade_function(name)(grading.load(name, solutions=True))


def test_the_switches_read_only_0_or_1(grading, monkeypatch):
    for switch, read in (("HADAMARD_SOLUTIONS", grading.solutions_wanted), ("HADAMARD_HINTS", grading.hints_wanted)):
        monkeypatch.setenv(switch, "yes")
        with pytest.raises(ValueError, match=f"{switch} must be 0 or 1"):
            read()


@pytest.mark.parametrize("name, mutant, words", MUTANTS, ids=[m.__name__ for _, m, _ in MUTANTS])
def test_a_wrong_answer_fails_naming_what_is_wrong(grading, name, mutant, words):
    module = grading.load(name, solutions=True)
    mutant(module)
    with pytest.raises(grading.ExerciseFailure) as failure:
        grade_function(name)(module)
    message = str(failure.value)
    for word in words:
        assert word in message, message
    assert "hint (formula):" not in message, message     # the first level never gives the formula


def test_every_exercise_has_wrong_answers_checked_and_the_five_once_accepted_are_among_them():
    """The five wrong answers the earlier graders accepted (distinct test values, only b broadcast, square
    inputs and kernels, forward values only) are among those checked."""
    assert {name for name, _, _ in MUTANTS} == set(NAMES)
    named = {mutant.__name__ for _, mutant, _ in MUTANTS}
    assert {"ex01_visited_keyed_on_data", "ex04_no_unbroadcast_on_a", "ex05_kh_kw_and_ho_wo_swapped",
            "ex06_h_w_swapped", "ex09_grid_detached"} <= named


def test_a_value_mismatch_names_the_element_the_values_and_offers_the_hint(grading, monkeypatch):
    """First level: element, expected, got, and how to ask for the hint; second level: the formula."""
    name, mutant, _ = next(m for m in MUTANTS if m[1].__name__ == "ex03_tanh_sign")
    messages = []
    for level in ("0", "1"):
        monkeypatch.setenv("HADAMARD_HINTS", level)
        module = grading.load(name, solutions=True)
        mutant(module)
        with pytest.raises(grading.ExerciseFailure) as failure:
            grade_function(name)(module)
        messages.append(str(failure.value))
    first, second = messages
    assert VALUES.search(first) and "element (" in first and ASK_FOR_HINTS in first, first
    assert "1 − y²" not in first and "hint (formula): dx = dy · (1 − y²)" in second, second
