"""``hadamard-bench --profile``: the op profiler counts what it claims and leaves the ops as it found them."""
import time

import numpy
import pytest

from hadamard_min import Tensor, guided_backprop
from hadamard_min.cli.bench_profile import OpProfile, gemm_flops, profile_passes, traffic
from hadamard_min.core.function import Function
from hadamard_min.fast.winograd import WinogradConv2d, filters
from hadamard_min.ops.conv import Conv2d
from hadamard_min.ops.elementwise import Add
from hadamard_min.ops.relu import ReLU


def _conv_pass(rng):
    x = Tensor(rng.standard_normal((2, 3, 9, 7)), requires_grad=True)
    w = Tensor(rng.standard_normal((5, 3, 3, 3)))
    with guided_backprop():
        y = ReLU.apply(Conv2d.apply(x, w, stride=2, padding=1))
        (y + y).sum().backward()
    return x.grad


def test_rows_count_calls_flops_and_bytes_of_each_op():
    rng = numpy.random.default_rng(0)
    with OpProfile() as profile:
        _conv_pass(rng)
    conv_forward = profile.rows[("Conv2d 3×3/2", "forward")]
    # y is (2, 5, 5, 4): each output is a dot product of 3·3·3 pairs, 2 FLOPs each
    assert conv_forward[0] == 1 and conv_forward[2] == 2 * (2 * 5 * 5 * 4) * 27
    conv_backward = profile.rows[("Conv2d 3×3/2", "backward")]
    assert conv_backward[0] == 1 and conv_backward[2] == conv_forward[2]  # dx only: W needs no gradient
    x_bytes, w_bytes, y_bytes = (2 * 3 * 9 * 7) * 8, 5 * 27 * 8, (2 * 5 * 5 * 4) * 8
    assert conv_forward[3] == x_bytes + w_bytes + y_bytes
    assert profile.rows[("ReLU", "forward")][0] == 1 and profile.rows[("ReLU", "forward")][2] == 0
    assert profile.rows[("Add", "backward")][3] == 0  # hands dy on: nothing is written
    assert all(row[1] > 0 for row in profile.rows.values())


@pytest.mark.parametrize("repeat", [False, True])
def test_the_ops_are_restored_and_give_the_same_gradient(repeat):
    """Also when every call is made twice (the warm timings): the first call's result is the one kept."""
    before = {cls: dict(vars(cls)) for cls in (Function, Conv2d, ReLU, Add, WinogradConv2d)}
    plain = _conv_pass(numpy.random.default_rng(1))
    with OpProfile(repeat) as profile:
        profiled = _conv_pass(numpy.random.default_rng(1))
    numpy.testing.assert_array_equal(profiled, plain)
    assert {cls: dict(vars(cls)) for cls in before} == before
    assert (profile.repeated > 0) == repeat and profile.rows[("Conv2d 3×3/2", "forward")][0] == 1


def test_a_repeated_call_is_timed_on_its_second_run():
    """The warm time is that of the second call: an op whose first call sleeps shows only the second."""
    class Once(Function):
        calls = 0

        def forward(self, x):
            Once.calls += 1
            time.sleep(0.05 if Once.calls == 1 else 0.0)
            return x * 2

    with OpProfile(repeat=True) as profile:
        Once.apply(Tensor(numpy.ones(3)))
    calls, seconds = profile.rows[("Once", "forward")][:2]
    assert Once.calls == 2 and calls == 1 and seconds < 0.04 <= profile.repeated


def test_a_failing_op_leaves_the_profile_usable():
    with pytest.raises(ValueError), OpProfile() as profile:
        Conv2d.apply(Tensor(numpy.ones((1, 2, 4, 4))), Tensor(numpy.ones((1, 3, 3, 3))), stride=1, padding=1)
    assert profile._depth == 0 and "timed" not in Conv2d.forward.__qualname__


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_flops_are_its_tile_products(tile):
    rng = numpy.random.default_rng(2)
    weight, x = rng.standard_normal((6, 4, 3, 3)), rng.standard_normal((1, 4, 10, 9))
    fn = WinogradConv2d(u=filters(weight, tile), bias=None)
    tiles = -(-10 // tile) * -(-9 // tile)
    assert gemm_flops(fn, (x,), None) == 2 * (tile + 2) ** 2 * 6 * 4 * tiles


def test_traffic_counts_only_new_outputs():
    a, b = numpy.ones(10), numpy.ones(10)
    fn = Add()
    assert traffic(fn, (a, b), a + b, "forward") == 3 * 80
    assert traffic(fn, (a,), (a, a[2:]), "backward") == 0
    assert traffic(fn, (a,), a.reshape(2, 5).T, "forward") == 0  # a view of a view moves nothing either


def test_profile_passes_reports_a_median_per_row():
    result = profile_passes(lambda: _conv_pass(numpy.random.default_rng(3)), 3, warm_passes=2)
    assert len(result["passes"]) == 3 and len(result["warm_passes"]) == 2
    assert all(len(row) == 8 and row[6] > 0 for row in result["rows"])   # each row's warm time
    labels = {(row[0], row[1]) for row in result["rows"]}
    assert ("Conv2d 3×3/2", "backward") in labels and ("Sum", "forward") in labels


def test_bench_profile_prints_the_table(capfd):
    from hadamard_min.cli.bench import main
    argv = ["--size", "32", "--depth", "50", "--runs", "1", "--warmup", "0", "--threads", "1", "--profile"]
    assert main(argv) == 0
    out = capfd.readouterr().out
    assert "per-op profile" in out and "FusedConv2d 1×1/1" in out and "outside the ops" in out
    assert "warm ms" in out and "every op as fast as it runs warm" in out
    assert "products ms" in out and "their products alone at their shapes" in out


def test_profile_is_for_the_cpu(capfd):
    from hadamard_min.cli.bench import main
    with pytest.raises(SystemExit) as stop:
        main(["--profile", "--device", "gpu"])
    assert stop.value.code == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--profile" in err[0]


@pytest.mark.parametrize(("options", "numba", "named"), [([], "0", "fast path, NumPy forms"),
                                                         ([], "1", "fast path, Numba kernels"),
                                                         (["--reference"], "1", "our reference ops")])
def test_the_report_names_the_forms_that_ran(capfd, monkeypatch, options, numba, named):
    """A figure with the extra and one without read alike: the report says which forms our side ran."""
    if numba == "1":
        pytest.importorskip("numba", reason="the Numba kernels need the extra .[fast]")
    from hadamard_min.cli.bench import main
    monkeypatch.setenv("HADAMARD_NUMBA", numba)
    argv = ["--size", "32", "--depth", "50", "--runs", "1", "--warmup", "0", "--threads", "1", "--no-torch"]
    assert main(argv + options) == 0
    assert named in capfd.readouterr().out


def test_the_explanation_rate_report_gives_the_parents_cpu_time_only_with_workers():
    """With worker processes the report says how much CPU the parent spent a run (receiving their results, on
    the cores they share): the median of the counted runs; with one process there is no such line."""
    from types import SimpleNamespace

    from hadamard_min.cli.bench_report import explain_rate_report
    args = SimpleNamespace(explain_batch=64, device="cpu", runs=3)
    ours = {"questions": 512, "threads": 2, "library": "openblas", "path": "fast path", "workers": 2,
            "explain": [0.30, 0.32, 0.40], "explain_cpu": [0.021, 0.019, 0.050]}
    text = explain_rate_report(args, ours, None)
    assert "1600.0 explanations/s" in text and "0.021 s of CPU a run in the parent process" in text
    assert "of CPU a run" not in explain_rate_report(args, ours | {"workers": 1}, None)
