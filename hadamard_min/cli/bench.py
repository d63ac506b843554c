"""``hadamard-bench``: time the explain pass of ResNet against PyTorch on the same weights.

The explain pass is the paper's visual explanation through the image network: a forward pass of a
frozen ResNet at size×size, then the guided backward of one class score down to the pixels,

    g = ∂ logits[:, k] / ∂ image,  with every ReLU passing back  dx = dy · [x > 0] · [dy > 0].

Each side lives in its own worker process (``cli/bench_sides.py``), so that each peak resident memory
(``ru_maxrss``) is its own; both use the same number of threads. The driver below asks them for one run at
a time, in turn (ours, torch, ours, ...), so that a machine whose speed drifts slows both alike, with a pause
of ``SETTLE`` seconds before each run: a BLAS's idle threads spin for a while after their last product
(OpenBLAS's about 0.1 s), and would take a core from the side that runs next. It reports
medians, the median of the per-run ratios and each side's fastest run (the best estimate of its speed on a
machine shared with other work), and how close each comes to the machine's floor (``cli/bench_report.py``).

On a GPU (``--device gpu``: CuPy for us, CUDA for torch) TF32 is off on both sides: torch's
``allow_tf32`` flags for matmul and cuDNN are cleared, CuPy keeps its default ``CUPY_TF32=0``, and both
workers run with ``NVIDIA_TF32_OVERRIDE=0``. Each run is timed from a synchronised start to a synchronised
end; after the timed runs one more explain pass measures the peak device memory in use (CuPy's memory pool
through an allocator hook, ``torch.cuda.max_memory_allocated``). ``--batch 1 16`` compares each batch size
in turn. ``--explain-rate`` compares instead the explanations per second (eq. 2-3) of the shipped easy-VQA
model and of the same model in torch (``oracle/torch_vqa.py``). ``--profile`` times our side alone, then
profiles more passes op by op, each op beside its own floor (``cli/bench_profile.py``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy

from hadamard_min.cli.bench_profile import profile_report
from hadamard_min.cli.bench_report import explain_rate_report, report
from hadamard_min.cli.bench_workload import DEPTHS, BenchError
from hadamard_min.cli.checks import SEED, integer
from hadamard_min.cli.errors import Parser, run
from hadamard_min.cli.parsing import add_version
from hadamard_min.core.backend import DeviceError, environment_device

SETTLE = 0.25  # seconds before each timed run: the other side's idle threads stop spinning
STOP_WAIT = 10  # seconds a side has to stop (its workers, its files) before it is killed


class Worker:
    """One side in its own process, driven line by line through its standard input and output."""

    def __init__(self, side, args, folder, weights):
        self.side, self.gradient_path = side, os.path.join(folder, f"{side}.npy")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
                   MKL_NUM_THREADS=str(args.threads), CUPY_TF32="0", NVIDIA_TF32_OVERRIDE="0")
        command = [sys.executable, "-m", "hadamard_min.cli.bench", "--worker", side, "--size", str(args.size),
                   "--batch", str(args.batch[0]), "--depth", str(args.depth), "--device", args.device,
                   "--threads", str(args.threads), "--seed", str(args.seed), "--questions", str(args.questions),
                   "--explain-batch", str(args.explain_batch), "--workers", str(args.workers),
                   "--gradient-out", self.gradient_path]
        command += ["--weights", weights] if weights else []
        command += ["--reference"] if args.reference else []
        command += ["--explain-rate"] if args.explain_rate else []
        command += ["--profile"] if args.profile else []
        self.errors = os.path.join(folder, f"{side}.err")  # its messages: the last one says why it stopped
        with open(self.errors, "w") as errors:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                            env=env, stderr=errors)
        self.result = self._read()

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            with open(self.errors, errors="replace") as errors:
                said = [text.strip() for text in errors if text.strip()]
            why = said[-1].removeprefix("hadamard-bench: error: ") if said else "no message"
            raise BenchError(f"the {self.side} worker stopped (exit code {self.process.returncode}): {why}")
        return json.loads(line)

    def run(self):
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        for key, seconds in self._read().items():
            self.result.setdefault(key, []).append(seconds)

    def finish(self, warmup):
        self.process.stdin.close()
        self.result |= self._read()
        self.process.wait()
        self.result["gradient"] = numpy.load(self.gradient_path)
        for key in ("forward", "explain", "forward_cpu", "explain_cpu"):  # wall and CPU time (all threads)
            if key in self.result:
                self.result[key] = self.result[key][warmup:]
        return self.result


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def compare(args, with_torch):
    """Run the workers in turn for one batch size (``args.batch[0]``); (ours, theirs or None)."""
    workers = []
    with tempfile.TemporaryDirectory() as folder:
        try:
            weights = os.path.join(folder, "weights.npz") if with_torch and not args.explain_rate else None
            workers.append(Worker("ours", args, folder, weights))
            if with_torch:
                workers.append(Worker("torch", args, folder, weights))
            for run in range(args.warmup + args.runs):
                for worker in workers:
                    time.sleep(SETTLE)
                    worker.run()
                _progress(run, args, workers)
            results = [worker.finish(args.warmup) for worker in workers]
        finally:  # stopped first (a side's own workers and files go with it), killed only if it hangs
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.terminate()
            for worker in workers:
                try:
                    worker.process.wait(timeout=STOP_WAIT)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
    return results[0], (results[1] if with_torch else None)


def _progress(run, args, workers):
    kind = "warm-up" if run < args.warmup else f"run {run - args.warmup + 1}/{args.runs}"
    parts = [f"{w.side} " + ", ".join(f"{key} {w.result[key][-1]:.4f} s" for key in ("forward", "explain")
                                      if key in w.result) for w in workers]
    print(f"{kind:>9}: " + " | ".join(parts), file=sys.stderr, flush=True)


def parse_args(argv):
    parser = Parser(
        prog="hadamard-bench",
        description="Time the explain pass (ResNet forward + guided backward to the pixels, parameters "
                    "frozen) of hadamard-min against PyTorch on the same weights, and compare peak memory.",
        epilog="example: hadamard-bench --size 224 --batch 1 8 --depth 50 --runs 3")
    parser.add_argument("--size", type=integer(32, 1024), help="image side in pixels, 32 to 1024 "
                        "(default 448)")
    parser.add_argument("--batch", type=integer(1, 4096), nargs="+",
                        help="images per pass; several sizes are compared one after another (default 1)")
    parser.add_argument("--runs", type=integer(1, 10_000), default=5, help="counted runs (default 5)")
    parser.add_argument("--warmup", type=integer(0, 10_000), default=1,
                        help="runs not counted, first (default 1): the first run also builds the frozen "
                             "network's inference forms and loads (or compiles) the Numba kernels, which "
                             "--warmup 0 counts")
    parser.add_argument("--depth", type=integer(0), choices=sorted(DEPTHS), help="ResNet depth (default 152)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default=None,
                        help="cpu (NumPy) or gpu (CuPy; torch then uses CUDA when it can); default: "
                             "$HADAMARD_DEVICE or cpu")
    parser.add_argument("--threads", type=integer(1, 1024), default=len(os.sched_getaffinity(0)),
                        help="threads for BLAS and torch, the same on both sides (default: all cores)")
    parser.add_argument("--no-torch", action="store_true", help="time our side only")
    parser.add_argument("--reference", action="store_true",
                        help="run our side on the reference ops only (as HADAMARD_FAST=0): no folding, no Winograd")
    parser.add_argument("--seed", type=SEED, help="seed of the weights and the input (0 to 2³² − 1)")
    parser.add_argument("--explain-rate", action="store_true",
                        help="compare instead the explanations/s (eq. 2-3) of the shipped easy-VQA model with "
                             "the same model in torch (--size, --batch, --depth and --seed are the ResNet pass's: "
                             "refused with it)")
    parser.add_argument("--questions", type=integer(1, 100_000),
                        help="--explain-rate: test questions (512)")
    parser.add_argument("--explain-batch", type=integer(1, 4096),
                        help="--explain-rate: questions per batch (64)")
    parser.add_argument("--workers", type=integer(1, 1024),
                        help="--explain-rate: processes that share our side's batches, each with one BLAS "
                             "thread (1: one process with --threads)")
    parser.add_argument("--profile", action="store_true",
                        help="time our side only, then profile --runs more passes (or --explain-rate runs) op "
                             "by op: each op's time beside its own floor (its matrix products at the SGEMM rate, "
                             "its bytes at the memory bandwidth) and the time of its products alone, at its "
                             "own shapes; CPU only")
    parser.add_argument("--worker", choices=("ours", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--gradient-out", help=argparse.SUPPRESS)
    add_version(parser)
    args = parser.parse_args(argv)
    if args.device is None:
        try:
            args.device = environment_device()
        except DeviceError as error:
            parser.error(str(error))
    _check_mode(parser, args)
    if args.profile and args.workers > 1:
        parser.error("--profile times the ops of one process: leave out --workers")
    if args.profile and args.device != "cpu":
        parser.error("--profile times the ops on the CPU: leave out --device gpu")
    return args


RESNET_PASS = {"size": 448, "batch": [1], "depth": 152, "seed": 0}  # options of the ResNet pass, their defaults
EXPLAIN_RATE = {"questions": 512, "explain_batch": 64, "workers": 1}  # and of --explain-rate


def _check_mode(parser, args):
    """Refuse an option of the other mode (``--explain-rate --size 224`` timed the 64×64 model without a word),
    then give each option left out its default. A worker is given every option by the driver."""
    unused = RESNET_PASS if args.explain_rate else EXPLAIN_RATE
    given = [name for name in unused if getattr(args, name) is not None]
    if given and not args.worker:
        option = "--" + given[0].replace("_", "-")
        parser.error(f"{option} is an option of the ResNet pass; --explain-rate times the shipped easy-VQA model "
                     f"(64×64, its own weights and test questions): leave out {option}" if args.explain_rate else
                     f"{option} is an option of --explain-rate only: add --explain-rate, or leave out {option}")
    for name, default in {**RESNET_PASS, **EXPLAIN_RATE}.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def main(argv=None):
    """``hadamard-bench [--size 448] [--batch 1 16] [--runs 5] [--depth 152] [--device cpu|gpu] ...``."""
    args = parse_args(argv)
    return run(lambda: _bench(args), "hadamard-bench", extra_errors=(BenchError,), device=args.device)


def _bench(args):
    if args.worker:
        from hadamard_min.cli.bench_sides import serve
        serve(args)
        return 0
    with_torch = not args.no_torch and not args.profile and _torch_available()
    for batch in ([args.batch[0]] if args.explain_rate else args.batch):
        one = argparse.Namespace(**{**vars(args), "batch": [batch]})
        ours, theirs = compare(one, with_torch)
        print((explain_rate_report if args.explain_rate else report)(one, ours, theirs), flush=True)
        if args.profile:
            print(profile_report(ours), flush=True)
    if not with_torch and not args.no_torch and not args.profile:
        print("torch is not installed: our side only (pip install 'hadamard-min[parity]' to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
