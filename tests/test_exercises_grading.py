"""The exercises grade honestly: a blank stub fails with its NotImplementedError, the reference solution
passes, and a typical wrong answer to each exercise fails with a message that names the element, the value
expected and the value got (and, where it applies, the hint)."""
import importlib
import re
from pathlib import Path

import numpy
import pytest

EXERCISES = Path(__file__).resolve().parents[1] / "lessons" / "exercises"
NAMES = sorted(p.stem for p in EXERCISES.glob("ex[0-9][0-9]_*.py"))
VALUES = re.compile(r"expected -?[\d.]+(e[+-]\d+)?( \(central differences\))?, got -?[\d.]+(e[+-]\d+)?")


@pytest.fixture
def grading(monkeypatch):
    monkeypatch.syspath_prepend(str(EXERCISES))
    return importlib.import_module("grading")


def grade_function(name):
    return importlib.import_module(f"test_{name}").grade


def test_there_are_at_least_eight_exercises_each_with_a_test_and_a_solution():
    assert len(NAMES) >= 8
    for name in NAMES:
        assert (EXERCISES / f"test_{name}.py").exists() and (EXERCISES / "solutions" / f"{name}.py").exists()


@pytest.mark.parametrize("name", NAMES)
def test_blank_stub_fails_with_its_message_and_the_solution_passes(grading, name):
    number = int(name[2:4])
    with pytest.raises(NotImplementedError, match=f"^exercise {number}: "):
        grade_function(name)(grading.load(name, solutions=False))
    grade_function(name)(grading.load(name, solutions=True))


def test_solutions_switch_reads_only_0_or_1(grading, monkeypatch):
    monkeypatch.setenv("HADAMARD_SOLUTIONS", "yes")
    with pytest.raises(ValueError, match="HADAMARD_SOLUTIONS must be 0"):
        grading.solutions_wanted()


# --------------------------------------------------------------------------- one typical mistake each
def ex01_assign_instead_of_add(module):
    def backward(self):
        self.grad = 1.0
        for value in reversed(module.topological_order(self)):
            for parent, local in zip(value.parents, value.local):
                parent.grad = local * value.grad   # = instead of +=
    module.Value.backward = backward


def ex01_recursive_order(module):
    def topological_order(root, order=None, seen=None):
        order, seen = ([], set()) if order is None else (order, seen)
        if id(root) not in seen:
            seen.add(id(root))
            for parent in root.parents:
                topological_order(parent, order, seen)
            order.append(root)
        return order
    module.topological_order = topological_order


def ex02_mean_instead_of_sum(module):
    def unbroadcast(grad, shape):
        while grad.ndim > len(shape):
            grad = grad.mean(axis=0)
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.mean(axis=axes, keepdims=True) if axes else grad
    module.unbroadcast = unbroadcast


def ex02_no_sum(module):
    module.unbroadcast = lambda grad, shape: grad


def ex03_tanh_sign(module):
    module.Tanh.backward = lambda self, dy: (dy * (self.saved[0] ** 2 - 1),)


def ex03_softmax_without_the_sum(module):
    module.Softmax.backward = lambda self, dy: (self.saved[0] * dy,)


def ex04_sign_of_da(module):
    def backward(self, dy):
        a, b = self.saved
        da = -(dy @ b.swapaxes(-1, -2))
        return module.unbroadcast(da, a.shape), module.unbroadcast(a.swapaxes(-1, -2) @ dy, b.shape)
    module.MatMul.backward = backward


def ex05_overwrite(module):
    def col2im(dcols, shape, kh, kw, stride, padding):
        n, c, h, w = shape
        out_h, out_w = dcols.shape[-2:]
        dxpad = numpy.zeros((n, c, h + 2 * padding, w + 2 * padding))
        for i in range(kh):
            for j in range(kw):
                dxpad[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride] = dcols[:, :, i, j]
        return dxpad[:, :, padding:padding + h, padding:padding + w]
    module.col2im = col2im


def ex06_sign(module):
    solved = module.MaxPool2d.backward
    module.MaxPool2d.backward = lambda self, dy: (-solved(self, dy)[0],)


def ex07_guided_sign(module):
    module.relu_backward = lambda dy, mask, rule: dy * mask if rule == "gradient" else (
        dy * (mask & (dy < 0)) if rule == "guided" else dy * (dy > 0))


def ex08_no_direct_path(module):
    solved = module.GRUCell.backward

    def backward(self, dh_new):
        dx, dh = solved(self, dh_new)
        return dx, dh - dh_new * self.saved[2]   # drops dh' ∘ z
    module.GRUCell.backward = backward


def ex09_softmax_over_glimpses(module):
    ops = module.ops
    solved = module.mlb_forward

    def mlb_forward(mlb, question, features):
        original = ops.softmax
        ops.softmax = lambda x, axis=-1: original(x, axis=2)   # over the G glimpses, not the S² locations
        try:
            return solved(mlb, question, features)
        finally:
            ops.softmax = original
    module.mlb_forward = mlb_forward


def ex10_sign(module):
    def deviation_gradients(out, I, q, fix_f=True, guided=True):
        F = out.F.detach() if fix_f else out.F
        (0.5 * ((out.Q - F) ** 2).sum()).backward(-1.0, retain_graph=True)   # the code's sign
        grad_q, I.grad = q.grad, None
        with module.relu_rule("guided" if guided else "gradient"):
            (0.5 * ((out.V - F) ** 2).sum()).backward(-1.0)
        return I.grad, grad_q
    module.deviation_gradients = deviation_gradients


def ex10_one_pass(module):
    def deviation_gradients(out, I, q, fix_f=True, guided=True):
        F = out.F.detach() if fix_f else out.F
        with module.relu_rule("guided" if guided else "gradient"):
            (0.5 * ((out.V - F) ** 2).sum() + 0.5 * ((out.Q - F) ** 2).sum()).backward()
        return I.grad, q.grad
    module.deviation_gradients = deviation_gradients


def ex11_per_channel(module):
    def normalise_pixel_map(grad_v):
        return (grad_v - grad_v.mean(axis=(1, 2), keepdims=True)) / grad_v.std(axis=(1, 2), keepdims=True)
    module.normalise_pixel_map = normalise_pixel_map


MISTAKES = [  # (exercise, mistake, what the message must also say)
    ("ex01_scalar_engine", ex01_assign_instead_of_add, "∂f/∂a"),
    ("ex01_scalar_engine", ex01_recursive_order, "overflowed the stack"),
    ("ex02_unbroadcast", ex02_mean_instead_of_sum, "a constant factor is off"),
    ("ex02_unbroadcast", ex02_no_sum, "(sum over broadcast axes?)"),
    ("ex03_tanh_softmax", ex03_tanh_sign, "the sign is flipped"),
    ("ex03_tanh_softmax", ex03_softmax_without_the_sum, "Softmax.backward"),
    ("ex04_matmul", ex04_sign_of_da, "the sign is flipped"),
    ("ex05_conv_col2im", ex05_overwrite, "add (+=)"),
    ("ex06_maxpool", ex06_sign, "the sign is flipped"),
    ("ex07_relu_rules", ex07_guided_sign, "x > 0 AND dy > 0"),
    ("ex08_gru_cell", ex08_no_direct_path, "GRUCell.backward"),
    ("ex09_mlb", ex09_softmax_over_glimpses, "α (eq. 4)"),
    ("ex10_deviation_gradients", ex10_sign, "∇q"),
    ("ex10_deviation_gradients", ex10_one_pass, "its own pass"),
    ("ex11_postprocess", ex11_per_channel, "not one per channel"),
]


@pytest.mark.parametrize("name, mistake, words", MISTAKES, ids=[m.__name__ for _, m, _ in MISTAKES])
def test_a_wrong_answer_fails_naming_the_element_and_the_values(grading, name, mistake, words):
    module = grading.load(name, solutions=True)
    mistake(module)
    with pytest.raises(grading.ExerciseFailure) as failure:
        grade_function(name)(module)
    message = str(failure.value)
    assert words in message, message
    if mistake not in (ex01_recursive_order, ex02_no_sum):   # those are named by what went wrong instead
        assert VALUES.search(message), message
        assert "element (" in message or name == "ex01_scalar_engine", message


def test_every_exercise_has_a_wrong_answer_checked():
    assert {name for name, _, _ in MISTAKES} == set(NAMES)
