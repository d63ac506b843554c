#!/usr/bin/env bash
# The GPU checks in one go, on a machine with an NVIDIA GPU, CuPy, PyTorch and pytest already installed
# (no network needed):
#
#     bash tests/gpu/run_on_device.sh            # logs to $OUT if set, else to /tmp/hadamard-gpu-logs
#
# 1. installs this checkout without dependencies (or puts it on PYTHONPATH), and easy-VQA from a carried
#    copy (.venv/lib/python3*/site-packages/easy_vqa, or wheels in .whl/) when it is not installed;
# 2. prints the GPU, the driver and the library versions;
# 3. runs tests/gpu and tests/test_kernels.py;
# 4. runs hadamard-bench --device gpu (ResNet-152 at 448x448, batch 1 and 16, against PyTorch eager fp32,
#    TF32 off on both sides, medians of 20 runs) and the explain rate on the easy-VQA test set (GPU and CPU);
# 5. with time to spare, a per-op profile of the ResNet-152 explain pass on the GPU (batch 1 and 16), and the
#    batch-1 benchmark once more with the fused kernels off (HADAMARD_FUSED=0).
# Every step runs even if an earlier one failed; the summary at the end says what failed. It is sized to
# finish in about 5 minutes; each step has its own time limit, so it ends within 9 minutes whatever happens.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT="$(pwd)"
LOGS="${OUT:-/tmp/hadamard-gpu-logs}"
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
START=$(date +%s)
FAILED=()

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $LOGS/NAME.log, remember failures
    local name=$1 limit=$2
    shift 2
    echo
    echo "=== $name ($(($(date +%s) - START)) s in; limit ${limit} s): $*"
    timeout "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
    local status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        FAILED+=("$name (exit $status$([ "$status" -eq 124 ] && echo ', timed out'))")
    fi
}

echo "=== install"
if python3 -m pip install -q --no-deps --no-build-isolation -e . >"$LOGS/install.log" 2>&1; then
    echo "installed hadamard-min (editable, no dependencies)"
else
    echo "pip install failed (see install.log): using PYTHONPATH=$ROOT"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c "import easy_vqa" 2>/dev/null; then
    carried=$(ls -d .venv/lib/python3*/site-packages/easy_vqa 2>/dev/null | head -n 1)
    if [ -n "$carried" ]; then
        mkdir -p /tmp/hadamard-site && ln -sfn "$ROOT/$carried" /tmp/hadamard-site/easy_vqa
        export PYTHONPATH="$PYTHONPATH:/tmp/hadamard-site"
        echo "easy-vqa: using the carried copy $carried"
    elif ls .whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --target /tmp/hadamard-site .whl/*.whl
        export PYTHONPATH="$PYTHONPATH:/tmp/hadamard-site"
        echo "easy-vqa: installed from .whl/"
    else
        echo "easy-vqa is not installed and no copy was carried: its tests skip and the explain rate fails"
    fi
fi

echo "=== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$LOGS/gpu.txt"
python3 - <<'EOF' 2>&1 | tee -a "$LOGS/gpu.txt"
import importlib, platform
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch", "PIL", "matplotlib", "pytest", "easy_vqa", "hadamard_min"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', 'ok')}")
    except Exception as error:
        print(f"{name} MISSING ({type(error).__name__}: {error})")
try:
    import cupy, torch
    print("CUDA runtime (CuPy)", cupy.cuda.runtime.runtimeGetVersion(), "| torch CUDA", torch.version.cuda,
          "| cuDNN (torch)", torch.backends.cudnn.version(), "| GPUs", cupy.cuda.runtime.getDeviceCount())
except Exception as error:
    print("GPU libraries:", type(error).__name__, error)
EOF

step tests 240 python3 -m pytest tests/gpu tests/test_kernels.py -o addopts= -q -rfEs -p no:cacheprovider
step bench 210 python3 -m hadamard_min.cli.bench --device gpu --batch 1 16 --runs 20 --warmup 3
step explain-rate 60 python3 -m hadamard_min.cli.bench --device gpu --explain-rate --questions 1024 --explain-batch 128
if [ $(($(date +%s) - START)) -lt 320 ]; then
    step profile 80 python3 - <<'EOF'
# Where the GPU time of the ResNet-152 explain pass goes: every op synchronised and timed, per kind of op.
import collections, time
import cupy, numpy
from hadamard_min import engine, set_device
from hadamard_min.engine import Function
from hadamard_min.models import resnet152
from hadamard_min.models.resnet import calibrate_batchnorm

set_device("gpu")
sync = cupy.cuda.Device().synchronize
rng = numpy.random.default_rng(0)
model = resnet152(rng=rng)
calibrate_batchnorm(model, cupy.asarray(rng.standard_normal((1, 3, 448, 448), dtype=numpy.float32)))
model.eval().requires_grad_(False).fold_batchnorm()
totals, counts = collections.defaultdict(float), collections.Counter()

def kind(fn):
    if type(fn).__name__ != "Conv2d":
        return type(fn).__name__
    kh, kw = fn.w_shape[2:]
    return f"Conv2d {kh}x{kw}/{fn.stride}" + (" winograd" if fn.winograd else "")

def timed(method, direction):
    def run(self, *arrays):
        sync()
        start = time.perf_counter()
        result = method(self, *arrays)
        sync()
        totals[direction, kind(self)] += time.perf_counter() - start
        counts[direction, kind(self)] += 1
        return result
    return run

def explain(image):
    x = engine.Tensor(image, requires_grad=True)
    with engine.guided_backprop():
        logits = model(x)
        seed = cupy.zeros(logits.shape, dtype=cupy.float32)
        seed[:, 0] = 1
        logits.backward(seed)
    sync()

classes, stack = [], [Function]
while stack:
    classes.append(stack.pop())
    stack += classes[-1].__subclasses__()
for batch in (1, 16):
    image = cupy.asarray(rng.standard_normal((batch, 3, 448, 448), dtype=numpy.float32))
    explain(image)
    walls = []
    for _ in range(5):
        start = time.perf_counter()
        explain(image)
        walls.append(time.perf_counter() - start)
    originals = {(c, m): c.__dict__[m] for c in classes for m in ("forward", "backward") if m in c.__dict__}
    for (c, m), method in originals.items():
        setattr(c, m, timed(method, m))
    totals.clear()
    counts.clear()
    explain(image)
    for (c, m), method in originals.items():
        setattr(c, m, method)
    ops = sum(totals.values())
    print(f"batch {batch}: explain pass {numpy.median(walls) * 1e3:.1f} ms (median of 5); with every op "
          f"synchronised, ops {ops * 1e3:.1f} ms in {sum(counts.values())} calls")
    for (direction, name), seconds in sorted(totals.items(), key=lambda item: -item[1])[:14]:
        print(f"  {direction:8} {name:28} {seconds * 1e3:8.2f} ms  {counts[direction, name]:4} calls")
EOF
else
    echo "(skipped the profile: not enough time left)"
fi
if [ $(($(date +%s) - START)) -lt 400 ]; then
    HADAMARD_FUSED=0 step bench-unfused 80 python3 -m hadamard_min.cli.bench --device gpu --batch 1 --runs 10 \
        --warmup 2
else
    echo "(skipped the unfused benchmark: not enough time left)"
fi

{
    echo
    echo "=== summary ($(($(date +%s) - START)) s)"
    head -n 3 "$LOGS/gpu.txt"
    echo "tests: $(grep -E '[0-9]+ (passed|failed|error)' "$LOGS/tests.log" | tail -n 1)"
    grep -E "^ResNet|^device:|^forward|^peak device|agree to" "$LOGS/bench.log" 2>/dev/null
    grep -E "explanations/s|gpu/cpu" "$LOGS/explain-rate.log" 2>/dev/null
    grep -E "^batch" "$LOGS/profile.log" 2>/dev/null
    if [ -f "$LOGS/bench-unfused.log" ]; then
        echo "with HADAMARD_FUSED=0 (batch 1):"
        grep -E "^forward" "$LOGS/bench-unfused.log"
    fi
    if [ ${#FAILED[@]} -eq 0 ]; then echo "all steps passed"; else printf 'FAILED: %s\n' "${FAILED[@]}"; fi
} | tee "$LOGS/summary.txt"
[ ${#FAILED[@]} -eq 0 ]
