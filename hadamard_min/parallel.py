"""Batch work on every core: the chunks of a batch computed in worker processes, the results in order.

The examples of a batch do not interact, so a batch is cut into the same chunks whatever the number of
workers, and each chunk is computed the same way, in this process or in a worker: the results do not
depend on ``workers`` (BLAS splits a product's rows and columns among its threads, not the sums).

Processes, not threads: the engine's per-example work is mostly Python (building the graph holds the GIL),
and gradient recording, the ReLU rule and ``model.frozen()`` are process-wide states that two threads would
share. On Linux the workers are forked, so the model and the data reach them once, by the fork, and are not
pickled; a chunk and its results travel by pickle. A worker ignores Ctrl-C (the command handles it and ends
the workers); an error in a worker is raised again here, as itself.

``workers=None`` means: every core (``cores()``) for a batch of at least ``MIN_PARALLEL`` examples, else one.
A small batch stays in this process, since starting a worker costs more than it saves.
"""
import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from hadamard_min.core.backend import get_device
from hadamard_min.fast import compiled

MIN_PARALLEL = 64   # examples: from this batch size on, workers=None uses every core
_job = None         # (function, shared) of this worker process, set once by _start


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(workers, examples):
    """The processes to use for ``examples`` examples: ``workers``, or by default (None) every core for a batch
    of at least ``MIN_PARALLEL`` examples and one for a smaller one."""
    if workers is None:
        return cores() if examples >= MIN_PARALLEL else 1
    return workers


def map_chunks(function, shared, chunks, workers=1):
    """Yield ``function(shared, chunk)`` for each of ``chunks``, in order, from ``workers`` processes.

    ``shared`` (the model, the data) is given to the workers once; ``function`` must be a module's function
    and the chunks and results picklable. One worker, one chunk, or no ``fork`` (Windows, macOS' default):
    every chunk runs here; so on the GPU too, which a forked process cannot share.
    """
    chunks = list(chunks)
    workers = min(workers, len(chunks))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods() or get_device() == "gpu":
        for chunk in chunks:
            yield function(shared, chunk)
        return
    compiled.prepare()  # loaded once here, not in every worker
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start,
                               initargs=(function, shared))
    try:
        with _one_blas_thread():  # the workers are forked inside: each inherits one BLAS thread
            yield from pool.map(_run, chunks)
    except BrokenProcessPool as error:  # a worker was killed (by the kernel, out of memory, say)
        raise MemoryError("a worker process ended abruptly (out of memory?); try --workers 1") from error
    finally:  # done, an error, Ctrl-C or the caller stopped reading: no worker outlives this
        for process in list((pool._processes or {}).values()):  # the executor has no public way to stop them
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)  # its manager sees them end, and reaps them


def _one_blas_thread():
    """BLAS on one thread in this process while the workers run (threadpoolctl, when installed; else nothing
    changes): the workers share the cores, and the small products of a chunk gain nothing from a second
    thread. Set here, before the fork, not in each worker: a forked worker that sets it itself starts a new
    OpenBLAS thread, which spins on a core for its first 0.1 s (a worker's first chunk took 0.15 s instead
    of 0.10 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _start(function, shared):
    """A worker's first code: Ctrl-C is the parent's to handle and SIGTERM ends it."""
    global _job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _job = (function, shared)


def _run(chunk):
    function, shared = _job
    return function(shared, chunk)
