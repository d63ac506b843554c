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

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
TARGET_CLASS = 0  # the class whose score is explained (any fixed class: the work is the same)


class BenchError(RuntimeError):
    """The benchmark cannot run as asked."""


def _input(args, seed_offset=0):
    rng = numpy.random.default_rng(args.seed + seed_offset)
    return rng.standard_normal((args.batch, 3, args.size, args.size), dtype=numpy.float32)


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
    """(forward, explain, sync, facts) for our network."""
    from . import engine, no_grad, set_device
    from .backend import get_xp, to_numpy
    from .models import ResNet
    from .models.resnet import calibrate_batchnorm

    set_device(args.device)
    xp = get_xp()
    model = ResNet(DEPTHS[args.depth], rng=numpy.random.default_rng(args.seed))  # on the chosen device
    calibrate_batchnorm(model, xp.asarray(_input(args, seed_offset=1)[:1]))
    if args.weights:
        from .weights import save_weights
        save_weights(args.weights, model.state_dict())
    model.eval().requires_grad_(False)
    if not args.no_fold:
        model.fold_batchnorm()
    image = xp.asarray(_input(args))
    seed = xp.asarray(_one_hot(args.batch, model.num_classes))

    def forward():
        with no_grad():
            model(engine.Tensor(image))

    def explain():
        x = engine.Tensor(image, requires_grad=True)
        with engine.guided_backprop():
            model(x).backward(seed)
        return to_numpy(x.grad)

    sync, device_peak = (lambda: None), (lambda: None)
    if args.device == "gpu":
        import cupy
        sync = cupy.cuda.Device().synchronize
        device_peak = cupy.get_default_memory_pool().total_bytes  # the pool keeps its high-water mark
    threads, library = _blas_threads()
    facts = {"threads": threads or args.threads, "library": library,
             "folded": not args.no_fold, "device_peak": device_peak}
    return forward, explain, sync, facts


# ---------------------------------------------------------------------------- the torch side
def torch_resnet(torch, layers, width=64, num_classes=1000):
    """The same network in plain torch with torchvision's names; ``Relu.guided = True`` makes ReLUs guided."""
    nn = torch.nn

    class GuidedReLU(torch.autograd.Function):
        """y = max(x, 0);  dx = dy · [y > 0] · [dy > 0]."""

        @staticmethod
        def forward(ctx, x):
            y = x.clamp(min=0)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, dy):
            (y,) = ctx.saved_tensors
            return dy.clamp(min=0) * (y > 0)

    class Relu(nn.Module):
        guided = False

        def forward(self, x):
            return GuidedReLU.apply(x) if Relu.guided else torch.relu(x)

    class Block(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            cout = planes * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3, self.bn3 = nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.relu = Relu()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1, self.relu = nn.BatchNorm2d(width), Relu()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = width
            for i, blocks in enumerate(layers):
                planes = width * 2 ** i
                stage = []
                for b in range(blocks):
                    stage.append(Block(cin, planes, (1 if i == 0 else 2) if b == 0 else 1))
                    cin = planes * 4
                setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            self.fc = nn.Linear(cin, num_classes)
            self.stages = len(layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(self.stages):
                x = getattr(self, f"layer{i + 1}")(x)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return Net(), Relu


def torch_side(args):
    """(forward, explain, sync, facts) for the plain-torch copy, on the weights our worker wrote."""
    import torch

    from .weights import load_weights

    torch.set_num_threads(args.threads)
    use_cuda = args.device == "gpu" and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    model, relu = torch_resnet(torch, DEPTHS[args.depth])
    state = {name: torch.from_numpy(array) for name, array in load_weights(args.weights).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise BenchError(f"{args.weights} does not fit the torch network: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    del state
    model = model.to(device).eval().requires_grad_(False)
    image = torch.from_numpy(_input(args)).to(device)
    seed = torch.from_numpy(_one_hot(args.batch, 1000)).to(device)

    def forward():
        relu.guided = False
        with torch.no_grad():
            model(image)

    def explain():
        relu.guided = True
        x = image.clone().requires_grad_(True)
        model(x).backward(seed)
        return x.grad.cpu().numpy()

    sync = torch.cuda.synchronize if use_cuda else (lambda: None)
    if use_cuda:
        torch.cuda.reset_peak_memory_stats()
    facts = {"threads": torch.get_num_threads(), "library": f"torch {torch.__version__} on {device.type}",
             "device_peak": torch.cuda.max_memory_allocated if use_cuda else (lambda: None)}
    return forward, explain, sync, facts


def serve(args):
    """A worker: set up, say "ready", then time one forward and one explain pass per "run" line."""
    forward, explain, sync, facts = (our_side if args.worker == "ours" else torch_side)(args)
    device_peak = facts.pop("device_peak")
    print(json.dumps({"rss_before_run": _current_rss_bytes()}), flush=True)
    gradient = None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        times = {}
        for key, step in (("forward", forward), ("explain", explain)):
            start = time.perf_counter()
            gradient = step()
            sync()
            times[key] = time.perf_counter() - start
        print(json.dumps(times), flush=True)
    numpy.save(args.gradient_out, gradient)
    print(json.dumps(facts | {"peak_rss": _peak_rss_bytes(), "device_peak": device_peak()}), flush=True)


# ---------------------------------------------------------------------------- the driver
class Worker:
    """One side in its own process, driven line by line through its standard input and output."""

    def __init__(self, side, args, folder, weights):
        self.side, self.gradient_path = side, os.path.join(folder, f"{side}.npy")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
                   MKL_NUM_THREADS=str(args.threads))
        command = [sys.executable, "-m", "hadamard_min.bench", "--worker", side, "--size", str(args.size),
                   "--batch", str(args.batch), "--depth", str(args.depth), "--device", args.device,
                   "--threads", str(args.threads), "--seed", str(args.seed),
                   "--gradient-out", self.gradient_path]
        command += ["--weights", weights] if weights else []
        command += ["--no-fold"] if args.no_fold else []
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
    """The comparison table (``theirs`` is None without torch)."""
    folded = "batch norm folded" if ours["folded"] else "batch norm unfolded"
    lines = [f"ResNet-{args.depth}, {args.size}×{args.size}, batch {args.batch}, {args.device}, "
             f"medians of {args.runs} runs after {args.warmup} warm-up, sides in turn ({folded})",
             f"threads: ours {ours['threads']} ({ours['library']})"
             + (f", torch {theirs['threads']} ({theirs['library']})" if theirs else ""),
             f"{'':28}{'ours':>12}{'torch':>12}{'ours/torch':>12}    (fastest run: ours, torch)"]
    for label, key in (("forward", "forward"), ("forward + guided backward", "explain")):
        mine = float(numpy.median(ours[key]))
        other = f"{numpy.median(theirs[key]):.3f} s" if theirs else "n/a"
        ratio = f"{numpy.median(numpy.divide(ours[key], theirs[key])):.2f}" if theirs else ""
        fastest = f"{min(ours[key]):.3f} s" + (f", {min(theirs[key]):.3f} s" if theirs else "")
        lines.append(f"{label:28}{mine:>10.3f} s{other:>12}{ratio:>12}    ({fastest})")
    memory = [("peak RSS", "peak_rss"), ("RSS before the runs", "rss_before_run")]
    if args.device == "gpu":
        memory.append(("peak device memory", "device_peak"))
    for label, key in memory:
        other = theirs[key] if theirs else None
        ratio = f"{ours[key] / other:.2f}" if ours[key] and other else ""
        lines.append(f"{label:28}{_megabytes(ours[key]):>12}{_megabytes(other):>12}{ratio:>12}")
    if theirs:
        a, b = ours["gradient"], theirs["gradient"]
        error = float(numpy.abs(a - b).max() / max(numpy.abs(b).max(), 1e-30))
        lines.append(f"guided input gradients agree to a relative error of {error:.1e} (max-abs scaled)")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="hadamard-bench",
        description="Time the explain pass (ResNet forward + guided backward to the pixels, parameters "
                    "frozen) of hadamard-min against PyTorch on the same weights, and compare peak memory.")
    parser.add_argument("--size", type=int, default=448, help="image side in pixels (default 448)")
    parser.add_argument("--batch", type=int, default=1, help="images per pass (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="counted runs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="runs not counted, first (default 1)")
    parser.add_argument("--depth", type=int, default=152, choices=sorted(DEPTHS), help="ResNet depth")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu (NumPy) or gpu (CuPy; torch then uses CUDA when it can)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for BLAS and torch, the same on both sides (default: all cores)")
    parser.add_argument("--no-torch", action="store_true", help="time our side only")
    parser.add_argument("--no-fold", action="store_true", help="keep batch norm as separate ops")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the input")
    parser.add_argument("--worker", choices=("ours", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--gradient-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.size, args.batch, args.runs, args.threads) < 1 or args.warmup < 0:
        parser.error("--size, --batch, --runs and --threads must be at least 1, --warmup at least 0")
    return args


def _progress(run, args, workers):
    kind = "warm-up" if run < args.warmup else f"run {run - args.warmup + 1}/{args.runs}"
    parts = [f"{w.side} forward {w.result['forward'][-1]:.3f} s, explain {w.result['explain'][-1]:.3f} s"
             for w in workers]
    print(f"{kind:>9}: " + " | ".join(parts), file=sys.stderr, flush=True)


def main(argv=None):
    """``hadamard-bench [--size 448] [--batch 1] [--runs 5] [--depth 152] [--device cpu|gpu] ...``."""
    args = parse_args(argv)
    try:
        if args.worker:
            serve(args)
            return 0
        with_torch = not args.no_torch and _torch_available()
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
        print(report(args, results[0], results[1] if with_torch else None))
        if not with_torch and not args.no_torch:
            print("torch is not installed: our side only (pip install '.[parity]' to compare)")
    except BenchError as error:
        print(f"hadamard-bench: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
