"""The two sides of ``hadamard-bench``, each run in a worker process of its own (``--worker ours|torch``).

A side is a ``Side``: its timed steps, how to wait for the device (``sync``), how to bring the result to
the host, a peak-memory probe for the device (None on the CPU) and facts for the report. ``serve`` sets
one up, measures its SGEMM rate, then times its steps once per "run" line of standard input and answers
each with a JSON line; the driver (``cli/bench.py``) asks the two workers in turn.

Ours builds the network (batch norms calibrated on a random image, as a trained network's standardise their
inputs) and writes its weights to a .npz; PyTorch's reads them into the oracle's copy of the same network
(``oracle/torch_models.py``). With ``--explain-rate`` the step is one pass of eq. 2-3 over the first test
questions of easy-VQA with the shipped model, in batches (``oracle/torch_vqa.py`` on torch's side).
"""
import functools
import json
import os
import resource
import sys
import time
from dataclasses import dataclass

import numpy

from hadamard_min.cli.bench_workload import DEPTHS, GEMM_SHAPE, BenchError, bench_input, explain_rate_batch, one_hot
from hadamard_min.io.atomic import write_atomically

CALIBRATION_SIZE = 224  # the batch norms' image at least: at 32 px the last map is 1 pixel, its variance 0 (NaN)


@dataclass
class Side:
    steps: dict                       # name → callable; the last one's result is the gradient kept
    to_host: object                   # array of the side → NumPy array
    facts: dict
    sync: object = lambda: None       # waits for the device to finish
    peak: object = None               # step → the most device memory in use while it ran (GPU only)
    gemm: object = None               # (M, K, N) → callable that multiplies two such float32 matrices


def blas_threads():
    """(threads, name) of NumPy's BLAS, read by threadpoolctl when it is installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None, "NumPy's BLAS; threadpoolctl names it when installed"
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return info["num_threads"], f"{info['internal_api']} {info.get('architecture') or ''}".strip()
    return None, "no BLAS found"


# ---------------------------------------------------------------------------- our side
def our_side(args):
    """Our ResNet, frozen, on the fast path (or the reference ops with ``--reference``)."""
    from hadamard_min import Tensor, fast, guided_backprop, no_grad, set_device
    from hadamard_min.core.backend import get_xp, to_numpy
    from hadamard_min.models import ResNet
    from hadamard_min.models.resnet import calibrate_batchnorm

    set_device(args.device)
    xp = get_xp()
    model = ResNet(DEPTHS[args.depth], rng=numpy.random.default_rng(args.seed))  # on the chosen device
    calibrate_batchnorm(model, xp.asarray(bench_input(args.seed + 1, 1, max(args.size, CALIBRATION_SIZE))))
    if args.weights:
        from hadamard_min.io.weights import save_weights
        save_weights(args.weights, model.state_dict())
    model.freeze()
    image = xp.asarray(bench_input(args.seed, args.batch[0], args.size))
    seed = xp.asarray(one_hot(args.batch[0], model.num_classes))

    def forward():
        with fast(not args.reference), no_grad():
            model(Tensor(image))

    def explain():
        x = Tensor(image, requires_grad=True)
        with fast(not args.reference), guided_backprop():
            model(x).backward(seed)
        return x.grad

    return _our_device(args, Side({"forward": forward, "explain": explain}, to_numpy, _our_facts(args)))


def our_explain_rate(args):
    """eq. 2-3 (``explain.hadamard.deviation_gradients``) with the shipped model over easy-VQA's test set,
    the batches shared among ``--workers`` processes (:mod:`hadamard_min.parallel`)."""
    from hadamard_min import set_device
    from hadamard_min.core.backend import to_numpy
    from hadamard_min.io.model_files import load_model
    from hadamard_min.parallel import map_chunks

    set_device(args.device)
    model = load_model()  # after set_device: its arrays live on that device
    batches = _easy_vqa_batches(args, model)
    job = (model, batches, not args.reference)

    def explain():  # ∇v of every batch, the last one kept
        return list(map_chunks(explain_rate_batch, job, range(len(batches)), args.workers, same_bits=False))[-1]

    facts = _our_facts(args) | {"questions": sum(len(batch[3]) for batch in batches)}
    return _our_device(args, Side({"explain": explain}, to_numpy, facts))


def _our_facts(args):
    from hadamard_min.fast import compiled, switch

    threads, library = blas_threads()
    if args.device == "gpu":
        kernels = "CUDA kernels"
    else:
        kernels = "Numba kernels" if switch.numba_enabled() and compiled.available() else "NumPy forms"
    return {"threads": threads or args.threads, "library": library, "workers": getattr(args, "workers", 1),
            "path": "reference ops" if args.reference else f"fast path, {kernels}"}


def _our_device(args, side):
    side.gemm = lambda shape: _matmul(numpy, shape, lambda array: array)
    if args.device != "gpu":
        return side
    import cupy
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    side.facts |= {"library": f"CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}",
                   "device": name.decode() if isinstance(name, bytes) else str(name),
                   "tf32": "off (CUPY_TF32=0, CuPy's default)"}
    side.sync = cupy.cuda.Device().synchronize
    side.peak = lambda step: _cupy_peak(cupy, step)
    side.gemm = lambda shape: _matmul(numpy, shape, cupy.asarray)
    return side


def _cupy_peak(cupy, step):
    """The most bytes CuPy's memory pool had in use while ``step`` ran (recorded by an allocator hook)."""
    pool = cupy.get_default_memory_pool()
    peak = pool.used_bytes()

    def malloc(size):
        nonlocal peak
        memory = pool.malloc(size)
        peak = max(peak, pool.used_bytes())
        return memory

    cupy.cuda.set_allocator(malloc)
    try:
        step()
        cupy.cuda.Device().synchronize()
    finally:
        cupy.cuda.set_allocator(pool.malloc)
    return peak


def _easy_vqa_batches(args, model):
    """[(inputs, ids, lengths, questions)] for the first ``--questions`` test questions, ``--explain-batch`` a batch."""
    from hadamard_min.data.easyvqa import load_easy_vqa

    data = load_easy_vqa("test")
    count = min(args.questions, len(data))
    batches = []
    for start in range(0, count, args.explain_batch):
        rows = range(start, min(start + args.explain_batch, count))
        inputs = numpy.stack([model.prepare_image(data.images[data.image_index[k]])[1] for k in rows])
        questions = [data.questions[k] for k in rows]
        batches.append((inputs, *model.encode_questions(questions), questions))
    return batches


# ---------------------------------------------------------------------------- PyTorch's side
def torch_side(args):
    """The oracle's ResNet in eager torch on our worker's weights, CUDA with ``--device gpu``."""
    torch, device = _torch_setup(args)
    from hadamard_min.io.weights import load_weights
    from hadamard_min.oracle.torch_models import torch_resnet

    model = torch_resnet(torch, DEPTHS[args.depth])
    state = {name: torch.from_numpy(array) for name, array in load_weights(args.weights).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise BenchError(f"{args.weights} does not fit the torch network: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    del state
    model = model.to(device).eval().requires_grad_(False)
    image = torch.from_numpy(bench_input(args.seed, args.batch[0], args.size)).to(device)
    seed = torch.from_numpy(one_hot(args.batch[0], model.fc.out_features)).to(device)

    def forward():
        with torch.no_grad():
            model(image)

    def explain():
        x = image.clone().requires_grad_(True)
        model(x, guided=True).backward(seed)
        return x.grad

    return _torch_device(torch, device, Side({"forward": forward, "explain": explain}, None, {}))


def torch_explain_rate(args):
    """eq. 2-3 with the oracle's torch copy of the shipped model (``oracle/torch_vqa.py``), same batches."""
    torch, device = _torch_setup(args)
    from hadamard_min.io.model_files import load_model
    from hadamard_min.oracle.torch_vqa import torch_vqa

    model = load_model()
    net = torch_vqa(model, torch).to(device)
    batches = [tuple(torch.from_numpy(numpy.asarray(a)).to(device) for a in batch[:2]) + (torch.from_numpy(
        numpy.asarray(batch[2])),) for batch in _easy_vqa_batches(args, model)]

    def explain():
        for inputs, ids, lengths in batches:
            grad_v, *_ = net.explain(inputs, ids, lengths)
        return grad_v

    return _torch_device(torch, device, Side({"explain": explain}, None, {}))


def _torch_setup(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # plain fp32
    return torch, torch.device("cuda" if args.device == "gpu" and torch.cuda.is_available() else "cpu")


def _torch_device(torch, device, side):
    side.facts = {"threads": torch.get_num_threads(), "library": f"torch {torch.__version__} on {device.type}"}
    side.to_host = lambda grad: grad.cpu().numpy()
    side.gemm = lambda shape: _matmul(torch, shape, lambda array: torch.from_numpy(array).to(device))
    if device.type != "cuda":
        return side

    def peak(step):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()

    side.facts |= {"device": torch.cuda.get_device_name(), "cudnn": torch.backends.cudnn.version(),
                   "tf32": "off (allow_tf32 = False for matmul and cuDNN)"}
    side.sync, side.peak = torch.cuda.synchronize, peak
    return side


# ---------------------------------------------------------------------------- the worker
def _matmul(module, shape, to_side):
    """A callable that multiplies two random float32 matrices (M, K) @ (K, N) with ``module`` (numpy or torch)."""
    m, k, n = shape
    rng = numpy.random.default_rng(0)
    a, b = (to_side(rng.standard_normal(s, dtype=numpy.float32)) for s in ((m, k), (k, n)))
    return lambda: module.matmul(a, b)


def gemm_rate(side, repeats=10):
    """FLOP/s of the side's fastest of ``repeats`` SGEMMs of ``GEMM_SHAPE`` (after one not counted)."""
    multiply = side.gemm(GEMM_SHAPE)
    best = float("inf")
    for _ in range(repeats + 1):
        side.sync()
        start = time.perf_counter()
        multiply()
        side.sync()
        best = min(best, time.perf_counter() - start)
    m, k, n = GEMM_SHAPE
    return 2 * m * k * n / best


def serve(args):
    """A worker: set up, say "ready", then time the side's steps once per "run" line."""
    make = {("ours", False): our_side, ("torch", False): torch_side, ("ours", True): our_explain_rate,
            ("torch", True): torch_explain_rate}[args.worker, args.explain_rate]
    side = make(args)
    print(json.dumps({"rss_before_run": _current_rss_bytes(), "gemm_rate": gemm_rate(side)}), flush=True)
    gradient = None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        times = {}
        for key, step in side.steps.items():
            side.sync()
            start, cpu = time.perf_counter(), time.process_time()
            gradient = step()
            side.sync()
            times[key], times[f"{key}_cpu"] = time.perf_counter() - start, time.process_time() - cpu
        print(json.dumps(times), flush=True)
    write_atomically(args.gradient_out, functools.partial(numpy.save, arr=side.to_host(gradient)))
    del gradient
    if args.profile:  # after the timed runs, so that the profiler's cost is in none of them
        from hadamard_min.cli.bench_profile import copy_rate, profile_passes
        side.facts |= {"profile": profile_passes(side.steps["explain"], args.runs),
                       "copy_rates": [copy_rate(1), copy_rate(args.threads)]}
    device_peak = side.peak(list(side.steps.values())[-1]) if side.peak else None  # one more, untimed pass
    print(json.dumps(side.facts | {"peak_rss": _peak_rss_bytes(), "device_peak": device_peak}), flush=True)


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _current_rss_bytes():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
