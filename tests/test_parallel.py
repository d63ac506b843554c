"""Batch work in worker processes (hadamard_min/parallel.py): the same results with 1 and 2 workers, errors and
Ctrl-C as in one process, and --workers on the commands.

The examples of a batch do not interact and a batch is cut into the same chunks whatever the worker count, so
each example is computed the same way with 1 or 2 workers: the results are compared bit for bit.
"""
import json
import multiprocessing
import os
import signal
import threading
import time

import numpy
import pytest

from hadamard_min.cli.evaluate import main as evaluate_main
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.data.easyvqa import load_easy_vqa
from hadamard_min.data.text import Vocabulary
from hadamard_min.data.twoshape import ANSWERS
from hadamard_min.evaluate.run import EvaluationSettings, evaluate
from hadamard_min.explain.arguments import ExplainArgumentError
from hadamard_min.explain.methods import explain_batch
from hadamard_min.io.model_files import load_model
from hadamard_min.models.vqa import build_vqa_model
from hadamard_min.parallel import MIN_PARALLEL, RESULTS_PREFIX, cores, map_chunks, worker_count

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="worker processes are forked (Linux)")
TINY = {"backbone": {"layers": [1], "width": 4}, "image_size": 64, "word_dim": 4, "question_dim": 8,
        "joint_dim": 4, "glimpses": 2, "max_length": 12}
QUESTIONS = ["what color is the shape?", "is there a circle?", "what shape is not blue?", "is it red?",
             "what is the shape?", "is there a green triangle?"]


@pytest.fixture(scope="module")
def shipped():
    return load_model()


@pytest.fixture(scope="module")
def pairs():
    rng = numpy.random.default_rng(5)
    return [rng.integers(0, 256, (64, 64, 3), dtype=numpy.uint8) for _ in QUESTIONS], list(QUESTIONS)


def fields(explanation):
    """What an explanation computed: its arrays, answers and scores."""
    return (explanation.grad_v, explanation.grad_q, explanation.heatmap, explanation.alpha, explanation.token_scores,
            explanation.top_k, explanation.target)


@pytest.mark.parametrize("method", ["hadamard", "gradcam"])
def test_explanations_with_two_workers_equal_those_of_one(shipped, pairs, method):
    images, questions = pairs
    one = explain_batch(shipped, images, questions, method=method, batch_size=2, workers=1)
    two = explain_batch(shipped, images, questions, method=method, batch_size=2, workers=2)
    assert [e.question for e in two] == questions
    for a, b in zip(one, two):
        for x, y in zip(fields(a), fields(b)):
            if isinstance(x, numpy.ndarray) or isinstance(y, numpy.ndarray):
                assert numpy.array_equal(x, y)
            else:
                assert x == y
    assert len({e.answer for e in two}) > 1 or len({float(e.heatmap.sum()) for e in two}) == len(two)


def test_the_evaluation_numbers_do_not_depend_on_the_workers():
    data = load_easy_vqa("test")
    model = build_vqa_model(TINY, Vocabulary.build(data.questions), ANSWERS, rng=numpy.random.default_rng(0)).eval()
    settings = EvaluationSettings(examples=7, batch=3, sanity_examples=4, figure_examples=4)  # 3 batches
    runs = [evaluate(model, data, settings, progress=lambda line: None, workers=w) for w in (1, 2)]
    (results_1, figure_1), (results_2, figure_2) = runs
    assert json.dumps(results_1) == json.dumps(results_2)
    assert len(results_1["tables"]["deletion"]["hadamard"]["auc"]["values"]) == 7
    assert [f["index"] for f in figure_1] == [f["index"] for f in figure_2] == [e["index"] for e in
                                                                                results_1["examples"][:4]]
    for a, b in zip(figure_1, figure_2):
        assert all(numpy.array_equal(a["maps"][name], b["maps"][name]) for name in a["maps"])


def test_the_batch_command_writes_the_same_with_two_workers_and_skips_a_bad_line(tmp_path, pairs, capsys):
    from PIL import Image

    images, questions = pairs
    lines = []
    for k, (image, question) in enumerate(zip(images[:4], questions)):
        Image.fromarray(image).save(tmp_path / f"{k}.png")
        lines.append(json.dumps({"image": f"{k}.png", "question": question}))
    lines.insert(2, json.dumps({"image": "missing.png", "question": "is it red?"}))
    (tmp_path / "pairs.jsonl").write_text("\n".join(lines) + "\n")
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        status = explain_main(["--batch", str(tmp_path / "pairs.jsonl"), "--out-dir", str(out), "--batch-size", "2",
                               "--workers", str(workers)])
        errors = [line for line in capsys.readouterr().err.splitlines() if "line 3" in line]
        assert status == 1 and len(errors) == 1 and "skipped" in errors[0]
        assert sorted(p.name for p in out.iterdir()) == ["0001.png", "0002.png", "0004.png", "0005.png",
                                                         "results.jsonl"]
        outputs.append((out / "results.jsonl").read_text().replace(str(out), "OUT"))
    assert outputs[0] == outputs[1]
    assert '"error"' in outputs[0].splitlines()[2]


def fail_on_two(shared, chunk):
    if chunk == 2:
        raise ValueError(f"chunk {chunk} of {shared}")
    return chunk * 10


def sleep_then_return(shared, chunk):
    time.sleep(shared)
    return chunk


def test_an_error_in_a_worker_is_raised_here_as_itself():
    assert list(map_chunks(fail_on_two, "job", [0, 1], workers=2)) == [0, 10]
    with pytest.raises(ValueError, match="chunk 2 of job"):
        list(map_chunks(fail_on_two, "job", [0, 1, 2, 3], workers=2))
    assert not multiprocessing.active_children()


def test_ctrl_c_while_waiting_stops_every_worker():
    # Python's own Ctrl-C handler, whatever this process inherited: a test run started in the background of a
    # non-interactive shell begins with SIGINT ignored, and Python then installs no handler of its own
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    # sent to the main thread, where the handler runs, not to whichever thread the kernel picks
    timer = threading.Timer(0.5, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    started = time.monotonic()
    raised, hook = [], threading.excepthook  # the executor's own threads end without an error (none printed)
    threading.excepthook = raised.append
    try:
        with pytest.raises(KeyboardInterrupt):
            list(map_chunks(sleep_then_return, 5.0, range(4), workers=2))
    finally:
        signal.signal(signal.SIGINT, previous)
        threading.excepthook = hook
    assert not raised, [(args.exc_type, args.exc_value) for args in raised]
    assert time.monotonic() - started < 4  # not waiting for the workers' chunks to end
    deadline = time.monotonic() + 3
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()


def test_small_batches_stay_in_one_process_and_large_ones_use_every_core():
    assert worker_count(None, MIN_PARALLEL - 1) == 1
    assert worker_count(None, MIN_PARALLEL) == cores()
    assert worker_count(3, 1) == 3


def test_a_bad_worker_count_is_refused(shipped, pairs, capsys, tmp_path):
    images, questions = pairs
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ExplainArgumentError, match="workers"):
            explain_batch(shipped, images[:1], questions[:1], workers=bad)
    with pytest.raises(SystemExit) as stop:
        evaluate_main(["--workers", "0", "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and "--workers" in capsys.readouterr().err


FRESH_PROCESS = """
import json, os
from hadamard_min.fast import cpu_kernels, cpu_windows, cpu_winograd
from hadamard_min.parallel import map_chunks

def loaded(shared, chunk):  # in a worker, before any work: the compiled code each kernel has
    kernels = [(cpu_kernels, name) for name in ("_relu_forward", "_relu_backward")]
    kernels += [(cpu_winograd, name) for name in ("_inputs", "_outputs", "_inputs4", "_outputs4")]
    kernels += [(cpu_windows, name) for name in ("_max_pool", "_max_pool_backward", "_col2im")]
    return [os.getpid(), [len(getattr(module, name).overloads) for module, name in kernels]]

print(json.dumps([os.getpid(), list(map_chunks(loaded, None, range(4), workers=2))]))
"""


def test_workers_start_with_the_compiled_kernels_loaded_by_the_parent():
    """A fresh worker that loads the Numba kernels itself pays 0.3–0.4 s before its first chunk (the rate of
    explanations with two workers was below that of one process): the parent loads them once, before forking."""
    pytest.importorskip("numba", reason="the compiled kernels need the extra .[fast]")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HADAMARD_NUMBA="1", HADAMARD_FAST="1"))
    assert done.returncode == 0, done.stderr
    parent, workers = json.loads(done.stdout)
    assert parent not in {pid for pid, _ in workers}
    assert all(count >= 1 for _, counts in workers for count in counts), workers


def blas_threads(shared, chunk):
    from threadpoolctl import threadpool_info
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_each_worker_runs_one_blas_thread_and_this_process_gets_its_own_back():
    """The limit is set around the fork, in this process, so the workers inherit it without setting it again."""
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="the BLAS limit needs threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads(None, None)
        assert list(map_chunks(blas_threads, None, range(4), workers=2)) == [[1] * len(before)] * 4
        assert blas_threads(None, None) == before


def test_one_process_runs_the_chunks_of_a_batch_on_one_blas_thread_as_a_worker_does():
    """On two BLAS threads a product is summed in another order than on one, so the chunks of a batch that one
    process takes get the workers' single thread; one chunk (one explanation) keeps them all, and so does the
    bench's ``same_bits=False``; afterwards this process has its own back."""
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="the BLAS limit needs threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads(None, None)
        assert max(before) == 2
        assert list(map_chunks(blas_threads, None, range(3), workers=1)) == [[1] * len(before)] * 3
        assert list(map_chunks(blas_threads, None, range(1), workers=2)) == [before]
        assert list(map_chunks(blas_threads, None, range(3), workers=1, same_bits=False)) == [before] * 3
        assert blas_threads(None, None) == before
        for workers in (1, 2):  # the caller's work between two chunks (a generator left paused) keeps its own
            chunks = map_chunks(blas_threads, None, range(3), workers=workers)
            assert next(chunks) == [1] * len(before) and blas_threads(None, None) == before
            chunks.close()


def arrays_of(shared, chunk):
    """A result of every kind that crosses back: large arrays (a file), a small one and non-arrays (the pipe),
    a strided view, an empty array and mixed dtypes, drawn from ``chunk``."""
    rng = numpy.random.default_rng(chunk)
    big = rng.standard_normal((64, 3, 64, 64)).astype(numpy.float32)
    return {"big": big, "view": big[:, ::2], "bytes": numpy.arange(3 + chunk, dtype=numpy.uint8),
            "wide": rng.standard_normal(70_000), "empty": numpy.empty((0, 5)), "tag": f"chunk {chunk}",
            "small": numpy.ones(7, dtype=numpy.int16) * chunk}


def shared_folders():
    """This process's results folders in /dev/shm (another process's, such as a second test run's, left out)."""
    mine = f"{RESULTS_PREFIX}{os.getpid()}-"
    return {name for name in os.listdir("/dev/shm") if name.startswith(mine)} if os.path.isdir("/dev/shm") else set()


def test_large_results_come_back_whole_writable_and_their_own_and_leave_no_file():
    """Results are the same as in one process, bit for bit and dtype for dtype, each array writable and
    its own (writing one changes no other), and the files the large ones came through are gone."""
    before = shared_folders()
    two = list(map_chunks(arrays_of, None, range(4), workers=2))
    for chunk, result in enumerate(two):
        expected = arrays_of(None, chunk)
        assert result.keys() == expected.keys() and result["tag"] == expected["tag"]
        for name in ("big", "view", "bytes", "wide", "empty", "small"):
            assert result[name].dtype == expected[name].dtype
            numpy.testing.assert_array_equal(result[name], expected[name])
            assert result[name].flags.writeable
        assert result["big"].ctypes.data % 64 == 0 and result["wide"].ctypes.data % 64 == 0
    two[0]["big"][:] = 0
    two[0]["wide"][:] = 0
    numpy.testing.assert_array_equal(two[1]["big"], arrays_of(None, 1)["big"])
    numpy.testing.assert_array_equal(two[0]["wide"], 0)
    assert shared_folders() == before


def test_results_take_the_pipe_when_no_file_can_be_written(monkeypatch):
    """No room for the file (a full /dev/shm, say), or no folder for it: the same results come back through
    the pipe."""
    import hadamard_min.parallel as parallel

    def full(*args, **keywords):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(parallel.tempfile, "mkstemp", full)  # the workers are forked with it
    for made in (lambda **keywords: "/nonexistent-folder", full):  # a folder but no file, then not even it
        monkeypatch.setattr(parallel.tempfile, "mkdtemp", made)
        results = list(map_chunks(arrays_of, None, range(2), workers=2))
        for chunk, result in enumerate(results):
            numpy.testing.assert_array_equal(result["big"], arrays_of(None, chunk)["big"])
            assert result["big"].flags.writeable

