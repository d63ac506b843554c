"""``hadamard-bench``: time the explain pass of ResNet against PyTorch on the same weights.

The explain pass is the paper's visual explanation through the image network: a forward pass of a
frozen ResNet at size×size, then the guided backward of one class score down to the pixels,

    g = ∂ logits[:, k] / ∂ image,  with every ReLU passing back  dx = dy · [x > 0] · [dy > 0].

Each side lives in its own worker process (``--worker ours|torch``), so that each peak resident memory
(``ru_maxrss``) is its own. Our worker builds the network (batch norms calibrated on a random image, as a
trained network's standardise their inputs) and writes its weights to a temporary .npz; the torch worker
reads them into a plain-torch copy of the same network (written below, no torchvision). Both use the same
number of threads. The driver asks them for one run at a time, in turn (ours, torch, ours, ...), so that
a machine whose speed drifts slows both alike, and reports medians, the median of the per-run ratios
and each side's fastest run (the best estimate of its speed on a machine shared with other work).

On a GPU (``--device gpu``: CuPy for us, CUDA for torch) TF32 is off on both sides: torch's
``allow_tf32`` flags for matmul and cuDNN are cleared, CuPy keeps its default ``CUPY_TF32=0``, and both
workers run with ``NVIDIA_TF32_OVERRIDE=0``. Each run is timed from a synchronised start to a synchronised
end; after the timed runs one more explain pass measures the peak device memory in use (CuPy's memory pool
through an allocator hook, ``torch.cuda.max_memory_allocated``). ``--batch 1 16`` compares each batch size
in turn. ``--explain-rate`` measures instead the explanations per second of ``explain_batch`` on the
easy-VQA test set with the shipped model, on the chosen device and on the CPU.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy

from hadamard_min.cli.checks import integer
from hadamard_min.cli.errors import Parser, run

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
TARGET_CLASS = 0  # the class whose score is explained (any fixed class: the work is the same)


class BenchError(RuntimeError):
    """The benchmark cannot run as asked."""


def _input(args, seed_offset=0):
    rng = numpy.random.default_rng(args.seed + seed_offset)
    return rng.standard_normal((args.batch[0], 3, args.size, args.size), dtype=numpy.float32)


def _one_hot(batch, classes):
    seed = numpy.zeros((batch, classes), dtype=numpy.float32)
    seed[:, TARGET_CLASS] = 1
    return seed


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _current_rss_bytes():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _blas_threads():
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
    """(forward, explain, sync, to_host, peak, facts) for our network; ``peak`` is None on the CPU."""
    from hadamard_min import Tensor, fast, guided_backprop, no_grad, set_device
    from hadamard_min.core.backend import get_xp, to_numpy
    from hadamard_min.models import ResNet
    from hadamard_min.models.resnet import calibrate_batchnorm

    set_device(args.device)
    xp = get_xp()
    model = ResNet(DEPTHS[args.depth], rng=numpy.random.default_rng(args.seed))  # on the chosen device
    calibrate_batchnorm(model, xp.asarray(_input(args, seed_offset=1)[:1]))
    if args.weights:
        from hadamard_min.io.weights import save_weights
        save_weights(args.weights, model.state_dict())
    model.freeze()
    image = xp.asarray(_input(args))
    seed = xp.asarray(_one_hot(args.batch[0], model.num_classes))

    def forward():
        with fast(not args.reference), no_grad():
            model(Tensor(image))

    def explain():
        x = Tensor(image, requires_grad=True)
        with fast(not args.reference), guided_backprop():
            model(x).backward(seed)
        return x.grad

    threads, library = _blas_threads()
    facts = {"threads": threads or args.threads, "library": library, "path": "reference" if args.reference else "fast"}
    if args.device != "gpu":
        return forward, explain, (lambda: None), to_numpy, None, facts
    import cupy
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    facts |= {"library": f"CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}",
              "device": name.decode() if isinstance(name, bytes) else str(name),
              "tf32": "off (CUPY_TF32=0, CuPy's default)"}
    sync = cupy.cuda.Device().synchronize
    return forward, explain, sync, to_numpy, lambda step: _cupy_peak(cupy, step), facts


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


def serve(args):
    """A worker: set up, say "ready", then time one forward and one explain pass per "run" line."""
    from hadamard_min.oracle.torch_models import torch_side
    forward, explain, sync, to_host, peak, facts = (our_side if args.worker == "ours" else torch_side)(args)
    print(json.dumps({"rss_before_run": _current_rss_bytes()}), flush=True)
    gradient = None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        times = {}
        for key, step in (("forward", forward), ("explain", explain)):
            sync()
            start = time.perf_counter()
            gradient = step()
            sync()
            times[key] = time.perf_counter() - start
        print(json.dumps(times), flush=True)
    numpy.save(args.gradient_out, to_host(gradient))
    del gradient
    device_peak = peak(explain) if peak else None  # one more, untimed pass
    print(json.dumps(facts | {"peak_rss": _peak_rss_bytes(), "device_peak": device_peak}), flush=True)


# ---------------------------------------------------------------------------- the driver
class Worker:
    """One side in its own process, driven line by line through its standard input and output."""

    def __init__(self, side, args, folder, weights):
        self.side, self.gradient_path = side, os.path.join(folder, f"{side}.npy")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
                   MKL_NUM_THREADS=str(args.threads), CUPY_TF32="0", NVIDIA_TF32_OVERRIDE="0")
        command = [sys.executable, "-m", "hadamard_min.cli.bench", "--worker", side, "--size", str(args.size),
                   "--batch", str(args.batch[0]), "--depth", str(args.depth), "--device", args.device,
                   "--threads", str(args.threads), "--seed", str(args.seed),
                   "--gradient-out", self.gradient_path]
        command += ["--weights", weights] if weights else []
        command += ["--reference"] if args.reference else []
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=env)
        self.result = self._read() | {"forward": [], "explain": []}

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise BenchError(f"the {self.side} worker stopped (exit code {self.process.returncode}); "
                             f"see its messages above")
        return json.loads(line)

    def run(self):
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        times = self._read()
        for key, seconds in times.items():
            self.result[key].append(seconds)
        return times

    def finish(self, warmup):
        self.process.stdin.close()
        self.result |= self._read()
        self.process.wait()
        self.result["gradient"] = numpy.load(self.gradient_path)
        for key in ("forward", "explain"):
            self.result[key] = self.result[key][warmup:]
        return self.result


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _megabytes(value):
    return f"{value / 2**20:,.0f} MiB" if value else "n/a"


def report(args, ours, theirs):
    """The comparison table for the batch ``args.batch[0]`` (``theirs`` is None without torch)."""
    folded = f"our {ours['path']} path"
    lines = [f"ResNet-{args.depth}, {args.size}×{args.size}, batch {args.batch[0]}, {args.device}, "
             f"medians of {args.runs} runs after {args.warmup} warm-up, sides in turn ({folded})",
             f"threads: ours {ours['threads']} ({ours['library']})"
             + (f", torch {theirs['threads']} ({theirs['library']})" if theirs else "")]
    if args.device == "gpu":
        on_cuda = theirs and "tf32" in theirs
        torch_tf32 = f", torch {theirs['tf32']}, cuDNN {theirs['cudnn']}" if on_cuda else ""
        lines.append(f"device: {ours['device']}; TF32: ours {ours['tf32']}{torch_tf32}; "
                     f"NVIDIA_TF32_OVERRIDE=0 on both")
    lines.append(f"{'':28}{'ours':>12}{'torch':>12}{'ours/torch':>12}    (fastest run: ours, torch)")
    for label, key in (("forward", "forward"), ("forward + guided backward", "explain")):
        mine = float(numpy.median(ours[key]))
        other = f"{numpy.median(theirs[key]):.4f} s" if theirs else "n/a"
        ratio = f"{numpy.median(numpy.divide(ours[key], theirs[key])):.2f}" if theirs else ""
        fastest = f"{min(ours[key]):.4f} s" + (f", {min(theirs[key]):.4f} s" if theirs else "")
        lines.append(f"{label:28}{mine:>10.4f} s{other:>12}{ratio:>12}    ({fastest})")
    memory = [("peak RSS", "peak_rss"), ("RSS before the runs", "rss_before_run")]
    if args.device == "gpu":
        memory.append(("peak device memory in use", "device_peak"))
    for label, key in memory:
        other = theirs[key] if theirs else None
        ratio = f"{ours[key] / other:.2f}" if ours[key] and other else ""
        lines.append(f"{label:28}{_megabytes(ours[key]):>12}{_megabytes(other):>12}{ratio:>12}")
    if theirs:
        a, b = ours["gradient"], theirs["gradient"]
        error = float(numpy.abs(a - b).max() / max(numpy.abs(b).max(), 1e-30))
        lines.append(f"guided input gradients agree to a relative error of {error:.1e} (max-abs scaled)")
    return "\n".join(lines)


def compare(args, with_torch):
    """Run the two workers in turn for one batch size (``args.batch[0]``); the report."""
    workers = []
    with tempfile.TemporaryDirectory() as folder:
        try:
            weights = os.path.join(folder, "weights.npz") if with_torch else None
            workers.append(Worker("ours", args, folder, weights))
            if with_torch:
                workers.append(Worker("torch", args, folder, weights))
            for run in range(args.warmup + args.runs):
                for worker in workers:
                    worker.run()
                _progress(run, args, workers)
            results = [worker.finish(args.warmup) for worker in workers]
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.kill()
    return report(args, results[0], results[1] if with_torch else None)


# ---------------------------------------------------------------------------- explanations per second
def explain_rate(args):
    """Explanations per second of ``explain_batch`` (shipped easy-VQA model, the first ``--questions`` test
    questions in batches of ``--explain-batch``, after one warm-up batch), on ``--device`` and on the CPU."""
    from hadamard_min.core.backend import set_device
    from hadamard_min.data.easyvqa import load_easy_vqa
    from hadamard_min.explain.hadamard import explain_batch
    from hadamard_min.io.model_files import load_model

    data = load_easy_vqa("test")
    count = min(args.questions, len(data))
    pairs = [(data.images[data.image_index[k]], data.questions[k]) for k in range(count)]
    batches = [list(zip(*pairs[i:i + args.explain_batch])) for i in range(0, count, args.explain_batch)]
    rates = {}
    for device in dict.fromkeys([args.device, "cpu"]):
        set_device(device)
        model = load_model()  # after set_device: its arrays live on that device
        explain_batch(model, *batches[0])
        start = time.perf_counter()
        for images, questions in batches:
            explain_batch(model, images, questions)
        rates[device] = count / (time.perf_counter() - start)
    threads, library = _blas_threads()
    lines = [f"explain_batch, shipped easy-VQA model, first {count} test questions, {args.explain_batch} per "
             f"batch (CPU: {threads or '?'} BLAS threads, {library})"]
    lines += [f"{device:>4}: {rate:8.1f} explanations/s" for device, rate in rates.items()]
    if len(rates) == 2:
        lines.append(f"gpu/cpu: {rates['gpu'] / rates['cpu']:.1f}×")
    return "\n".join(lines)


def parse_args(argv):
    parser = Parser(
        prog="hadamard-bench",
        description="Time the explain pass (ResNet forward + guided backward to the pixels, parameters "
                    "frozen) of hadamard-min against PyTorch on the same weights, and compare peak memory.")
    parser.add_argument("--size", type=integer(32, 1024), default=448, help="image side in pixels, 32 to 1024 "
                        "(default 448)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1],
                        help="images per pass; several sizes are compared one after another (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="counted runs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="runs not counted, first (default 1)")
    parser.add_argument("--depth", type=int, default=152, choices=sorted(DEPTHS), help="ResNet depth")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu (NumPy) or gpu (CuPy; torch then uses CUDA when it can)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for BLAS and torch, the same on both sides (default: all cores)")
    parser.add_argument("--no-torch", action="store_true", help="time our side only")
    parser.add_argument("--reference", action="store_true",
                        help="run our side on the reference ops only (as HADAMARD_FAST=0): no folding, no Winograd")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the input")
    parser.add_argument("--explain-rate", action="store_true",
                        help="measure explanations/s of explain_batch on easy-VQA instead (device and CPU)")
    parser.add_argument("--questions", type=int, default=512, help="--explain-rate: test questions (512)")
    parser.add_argument("--explain-batch", type=int, default=64,
                        help="--explain-rate: questions per batch (64)")
    parser.add_argument("--worker", choices=("ours", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--gradient-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.size, *args.batch, args.runs, args.threads, args.questions, args.explain_batch) < 1 \
            or args.warmup < 0:
        parser.error("--size, --batch, --runs, --threads, --questions and --explain-batch must be at least "
                     "1, --warmup at least 0")
    return args


def _progress(run, args, workers):
    kind = "warm-up" if run < args.warmup else f"run {run - args.warmup + 1}/{args.runs}"
    parts = [f"{w.side} forward {w.result['forward'][-1]:.4f} s, explain {w.result['explain'][-1]:.4f} s"
             for w in workers]
    print(f"{kind:>9}: " + " | ".join(parts), file=sys.stderr, flush=True)


def main(argv=None):
    """``hadamard-bench [--size 448] [--batch 1 16] [--runs 5] [--depth 152] [--device cpu|gpu] ...``."""
    args = parse_args(argv)
    return run(lambda: _bench(args), "hadamard-bench", extra_errors=(BenchError,))


def _bench(args):
    if args.worker:
        serve(args)
        return 0
    if args.explain_rate:
        print(explain_rate(args))
        return 0
    with_torch = not args.no_torch and _torch_available()
    for batch in args.batch:
        print(compare(argparse.Namespace(**{**vars(args), "batch": [batch]}), with_torch), flush=True)
    if not with_torch and not args.no_torch:
        print("torch is not installed: our side only (pip install '.[parity]' to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
