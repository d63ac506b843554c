"""Batch work on every core: the chunks of a batch computed in worker processes, the results in order.

The examples of a batch do not interact, so a batch is cut into the same chunks whatever the number of
workers, and each chunk is computed the same way, in this process or in a worker: the results do not
depend on ``workers``. The same way includes BLAS's threads: a product on two threads is not summed in the
order of the same product on one (OpenBLAS 0.3.31 on an AMD EPYC, 64 × 100 by 100 × 200 in float32, differs in
the last bits), and each worker has one. So a batch of several chunks is computed with one BLAS thread per
chunk here too, where one process takes every chunk (threadpoolctl, the ``fast`` extra; without it nothing
limits BLAS, and the workers keep this process's threads). A batch of one chunk, one explanation say, keeps
every BLAS thread: it is never shared out. To use every core on a batch of large products, give it workers.

Processes, not threads: the engine's per-example work is mostly Python (building the graph holds the GIL),
and gradient recording, the ReLU rule and ``model.frozen()`` are process-wide states that two threads would
share. On Linux the workers are forked, so the model and the data reach them once, by the fork, and are not
pickled; a chunk travels by pickle, and so does a result, but for its large arrays: a worker writes those to a
file in memory (``/dev/shm``, in a folder of this call's) that this process maps and deletes as the result
arrives, so that megabytes of gradients do not cross a pipe 64 KiB at a time, which kept this process busy on
the cores the workers share (``hadamard-bench --explain-rate --workers 2`` prints its CPU time). A worker
ignores Ctrl-C (the command handles it and ends the workers); an error in a worker is raised again here, as
itself.

``workers=None`` means: every core (``cores()``) for a batch of at least ``MIN_PARALLEL`` examples, else one.
A small batch stays in this process, since starting a worker costs more than it saves.
"""
import contextlib
import mmap
import multiprocessing
import os
import pickle
import shutil
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from hadamard_min.core.backend import get_device
from hadamard_min.fast import compiled

MIN_PARALLEL = 64       # examples: from this batch size on, workers=None uses every core
FILE_BYTES = 64 << 10   # a result's arrays from this size on come back through a file (a pipe holds 64 KiB)
ALIGN = 64              # bytes: where each array starts in that file, as a fresh array's memory would
STUCK_SECONDS = 2.0     # a pool's manager thread not ended this long after its workers: stuck in a read
RESULTS_PREFIX = "hadamard-results-"  # then the pid of the process whose workers write in the folder
_job = None             # (function, shared, folder) of this worker process, set once by _start


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(workers, examples):
    """The processes to use for ``examples`` examples: ``workers``, or by default (None) every core for a batch
    of at least ``MIN_PARALLEL`` examples and one for a smaller one."""
    if workers is None:
        return cores() if examples >= MIN_PARALLEL else 1
    return workers


def map_chunks(function, shared, chunks, workers=1, same_bits=True):
    """Yield ``function(shared, chunk)`` for each of ``chunks``, in order, from ``workers`` processes.

    ``shared`` (the model, the data) is given to the workers once; ``function`` must be a module's function
    and the chunks and results picklable; at most one worker per core. One worker, one chunk, or no ``fork``
    (Windows, macOS' default): every chunk runs here; so on the GPU too, which a forked process cannot share.
    ``same_bits``: several chunks run here with one BLAS thread, as in a worker, so that the results do not
    depend on ``workers``; False leaves BLAS its threads here (the bench's one process with ``--threads``).
    """
    chunks = list(chunks)
    workers = min(workers, len(chunks), cores())  # more processes than cores only share them, at their memory
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods() or get_device() == "gpu":
        for chunk in chunks:  # the limit around each chunk's work only: the caller's own work keeps its threads
            with _one_blas_thread() if same_bits and len(chunks) > 1 else contextlib.nullcontext():
                result = function(shared, chunk)
            yield result
        return
    compiled.prepare()  # loaded once here, not in every worker
    folder = pool = None
    try:  # from the folder's making on: a Ctrl-C at any point leaves no folder and no worker
        folder = _results_folder()
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start,
                                   initargs=(function, shared, folder, os.getpid()))
        with _one_blas_thread():  # map submits every chunk, so every worker is forked here: each inherits it
            results = pool.map(_run, chunks)
        yield from results
    except BrokenProcessPool as error:  # a worker was killed (by the kernel, out of memory, say)
        raise MemoryError("a worker process ended abruptly (out of memory?); try --workers 1") from error
    finally:  # done, an error, Ctrl-C or the caller stopped reading: no worker outlives this
        if pool is not None:
            _stop(pool)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)  # the files of results nobody read


def _stop(pool):
    """End the pool's workers, which the executor cannot stop itself, and the pool, its threads without an error.

    Shut down first: the executor's manager thread drops the chunks not started, whose futures the caller may
    have cancelled already (it would set an error on them once the workers are gone, and a cancelled future
    takes none: an InvalidStateError in that thread). A worker ended while it wrote its result leaves part of a
    message in the results' pipe, and the manager then waits for the rest of it for ever (it held the exit of
    the process when an error in one chunk or a caller that stopped reading ended the others mid-write): if it
    has not ended once the workers are gone, it is in that read, and this process's own end of the pipe, which
    nothing here writes to, is closed, so that it reads the end of the file instead and ends."""
    processes = list((pool._processes or {}).values())
    manager, results, pending = pool._executor_manager_thread, pool._result_queue, pool._pending_work_items
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()
    if manager is not None:
        manager.join(STUCK_SECONDS)
        if manager.is_alive():  # blocked in its read: it does nothing else meanwhile
            for key in [key for key, item in list(pending.items()) if item.future.cancelled()]:
                del pending[key]
            results._writer.close()
            manager.join()
    results.close()


def _one_blas_thread():
    """BLAS on one thread in this process while the chunks run (threadpoolctl, when installed; else nothing
    changes): the workers share the cores, and the small products of a chunk gain nothing from a second
    thread. Set here, before the fork, not in each worker: a forked worker that sets it itself starts a new
    OpenBLAS thread, which spins on a core for its first 0.1 s (a worker's first chunk took 0.15 s instead
    of 0.10 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _results_folder():
    """A new private folder in memory (``/dev/shm``, else the temporary folder) for the workers' large results,
    named after this process (``hadamard-results-PID-…``), or None where none can be made: they then come
    through the pipe."""
    try:
        return tempfile.mkdtemp(prefix=f"{RESULTS_PREFIX}{os.getpid()}-",
                                dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    except OSError:
        return None


def _start(function, shared, folder, parent):
    """A worker's first code: Ctrl-C is the parent's to handle and SIGTERM ends it, also when the parent dies."""
    global _job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with(parent)
    _job = (function, shared, folder)


def _end_with(parent):
    """On Linux, SIGTERM to this worker when ``parent`` dies, even by SIGKILL, which leaves it no time to stop
    its workers: they waited on its queue for ever (``prctl(PR_SET_PDEATHSIG)``); elsewhere nothing."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl: not Linux
        return
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _run(chunk):
    function, shared, folder = _job
    return _ThroughFile(function(shared, chunk), folder)


class _ThroughFile:
    """A worker's result, pickled with its arrays' bytes out of band (pickle protocol 5) and, when they are
    large, written to a file in ``folder``; unpickled here, where it arrives, as the result itself."""

    def __init__(self, result, folder):
        self.result, self.folder = result, folder

    def __reduce__(self):
        buffers = []
        data = pickle.dumps(self.result, protocol=5, buffer_callback=buffers.append)
        sizes = [buffer.raw().nbytes for buffer in buffers]
        if self.folder and sum(sizes) >= FILE_BYTES:
            with contextlib.suppress(OSError):  # no room for the file: through the pipe, as any result
                return _read, (data, _write(self.folder, buffers), sizes)
        return _loads, (data, [bytearray(buffer.raw()) for buffer in buffers])  # writable, as arrays are


def _loads(data, buffers):
    return pickle.loads(data, buffers=buffers)


def _write(folder, buffers):
    """A new file in ``folder`` holding ``buffers`` one after the other, each from a multiple of ``ALIGN``."""
    handle, path = tempfile.mkstemp(dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            for buffer in buffers:
                file.write(buffer.raw())
                file.write(bytes(-buffer.raw().nbytes % ALIGN))
    except OSError:
        os.unlink(path)
        raise
    return path


def _read(data, path, sizes):
    """The result whose arrays' bytes a worker wrote to ``path``: its arrays mapped from the file (copied on
    write, so they are this process's own), which is deleted at once (the mapping keeps its pages)."""
    try:
        with open(path, "rb") as file:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
    finally:
        os.unlink(path)
    view, buffers, start = memoryview(mapped), [], 0
    for size in sizes:
        buffers.append(view[start:start + size])
        start += size + -size % ALIGN
    return pickle.loads(data, buffers=buffers)
