#!/usr/bin/env bash
# The GPU checks in one go, on a machine with an NVIDIA GPU, CuPy, PyTorch and pytest already installed and
# no network. easy-VQA, when it is not installed there, comes from the wheel in .whl/ (an ignored folder):
# fill it once with `pip download --no-deps easy-vqa==1.0 -d .whl` and carry it with the checkout.
#
#     bash tests/gpu/run_on_device.sh             # logs to $OUT if set, else to /tmp/hadamard-gpu-logs
#     bash tests/gpu/run_on_device.sh --dry-run   # here, without a GPU (see below)
#
# 1. install this checkout without dependencies (or put it on PYTHONPATH), easy-VQA from .whl/ if needed,
#    and write the GPU, the driver and the library versions to machine.txt;
# 2. tests: tests/gpu and tests/test_kernels.py, the ten slowest listed (a fresh machine compiles CuPy's
#    kernels on first use: the first run is the slow one);
# 3. bench: hadamard-bench --device gpu, ResNet-152 at 448x448, batch 1 and 16, against PyTorch eager fp32
#    (TF32 off on both sides), medians of 5 runs after 2 warm-up;
# 4. explain-rate: explanations per second of explain_batch on 512 easy-VQA test questions, GPU and CPU;
# 5. if time is left: the batch-1 benchmark again with the reference ops (HADAMARD_FAST=0).
# Every step runs even if an earlier one failed, each under its own time limit and all under one deadline
# (DEADLINE seconds from the start, 300 by default): a step is cut short at the deadline, skipped when less
# than 30 s would be left for it, so the script ends within five minutes whatever happens. The logs are
# machine.txt, one small log per step and summary.txt, which says what failed or was skipped.
#
# --dry-run checks the script itself on a machine without a GPU: nothing is installed (the checkout goes on
# PYTHONPATH, easy-VQA is unpacked from .whl/ all the same), CuPy is the strict stand-in of tests/gpu (unless
# CuPy is installed), the benchmarks run small (ResNet-50 at 64x64, no PyTorch), and the deadline (900 s) and
# the step limits are three times longer, as everything runs on the CPU (DEADLINE and SCALE set them).
# PYTHON names the interpreter (python3 by default).
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT="$(pwd)"
PYTHON="${PYTHON:-python3}"
DRY_RUN=$([ "${1:-}" = "--dry-run" ] && echo 1 || echo 0)
LOGS="${OUT:-/tmp/hadamard-gpu-logs}"
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
START=$(date +%s)
FAILED=()
if [ "$DRY_RUN" = 1 ]; then
    DEADLINE="${DEADLINE:-900}"
    SCALE="${SCALE:-3}"  # step limits x3
    BENCH=(--size 64 --depth 50 --no-torch)
    RUNS=(--runs 2 --warmup 1)
    RATE=(--questions 128 --explain-batch 64)
else
    DEADLINE="${DEADLINE:-300}"
    SCALE=1
    BENCH=(--size 448 --depth 152)
    RUNS=(--runs 5 --warmup 2)
    RATE=(--questions 512 --explain-batch 128)
fi

elapsed() { echo $(($(date +%s) - START)); }

step() {  # step NAME SECONDS COMMAND...: run under min(SECONDS, time to the deadline), log to $LOGS/NAME.log
    local name=$1 limit=$(($2 * SCALE))
    shift 2
    local left=$((DEADLINE - $(elapsed) - 10))  # 10 s kept for the summary
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 30 ]; then
        echo "=== $name: skipped ($(elapsed) s in, the deadline is ${DEADLINE} s)" | tee "$LOGS/$name.log"
        FAILED+=("$name (skipped: no time left)")
        return
    fi
    echo
    echo "=== $name ($(elapsed) s in; limit ${limit} s): $*"
    local began
    began=$(date +%s)
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    local status=$?
    tail -n 40 "$LOGS/$name.log"
    echo "=== $name: exit $status in $(($(date +%s) - began)) s"
    if [ "$status" -ne 0 ]; then
        FAILED+=("$name (exit $status$([ "$status" -eq 124 ] && echo ', timed out'))")
    fi
}

{
    echo "=== install ($([ "$DRY_RUN" = 1 ] && echo 'dry run: nothing installed'))"
    if [ "$DRY_RUN" = 0 ] && "$PYTHON" -m pip install -q --no-deps --no-build-isolation -e .; then
        echo "installed hadamard-min (editable, no dependencies)"
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    if [ "$DRY_RUN" = 1 ] || ! "$PYTHON" -c "import easy_vqa" 2>/dev/null; then
        if ls .whl/easy_vqa-*.whl >/dev/null 2>&1 && "$PYTHON" -m pip install -q --no-index --no-deps --upgrade \
                --target /tmp/hadamard-site .whl/easy_vqa-*.whl; then
            export PYTHONPATH="/tmp/hadamard-site:$PYTHONPATH"
            echo "easy-vqa: installed from $(ls .whl/easy_vqa-*.whl)"
        else
            echo "easy-vqa: not installed and no wheel in .whl/: its tests skip and the explain rate fails"
        fi
    fi
    if [ "$DRY_RUN" = 1 ] && ! "$PYTHON" -c "import cupy" 2>/dev/null; then
        export HADAMARD_STRICT_CUPY=1 PYTHONPATH="$ROOT/tests/gpu/strict_cupy:$PYTHONPATH"
        echo "cupy: the strict stand-in of tests/gpu (HADAMARD_STRICT_CUPY=1)"
    fi
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | head -n 3
    "$PYTHON" - <<'EOF' 2>&1
import importlib, platform
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch", "PIL", "matplotlib", "pytest", "easy_vqa", "hadamard_min"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', 'ok')} ({module.__file__})")
    except Exception as error:
        print(f"{name} MISSING ({type(error).__name__}: {error})")
try:
    import cupy
    print("CUDA runtime (CuPy)", cupy.cuda.runtime.runtimeGetVersion(), "| GPUs", cupy.cuda.runtime.getDeviceCount())
    import torch
    print("torch CUDA", torch.version.cuda, "| cuDNN", torch.backends.cudnn.version())
except Exception as error:
    print("GPU libraries:", type(error).__name__, error)
EOF
} >"$LOGS/machine.txt" 2>&1
cat "$LOGS/machine.txt"
# (a group with its output redirected runs in this shell: its exports hold for the steps below)

step tests 190 "$PYTHON" -m pytest tests/gpu tests/test_kernels.py -o addopts= -q -rfEsP --tb=short \
    --durations=10 -p no:cacheprovider
step bench 80 "$PYTHON" -m hadamard_min.cli.bench --device gpu --batch 1 16 "${BENCH[@]}" "${RUNS[@]}"
step explain-rate 40 "$PYTHON" -m hadamard_min.cli.bench --device gpu --explain-rate "${RATE[@]}"
if [ $((DEADLINE - $(elapsed))) -ge $((60 * SCALE)) ]; then
    HADAMARD_FAST=0 step bench-reference 50 "$PYTHON" -m hadamard_min.cli.bench --device gpu --batch 1 "${BENCH[@]}" \
        "${RUNS[@]}"
else
    echo "(skipped the reference-ops benchmark: $(elapsed) s in, not enough time left)"
fi

{
    echo
    echo "=== summary ($(elapsed) s$([ "$DRY_RUN" = 1 ] && echo ', dry run'))"
    grep -E "^(NVIDIA|CUDA runtime|torch CUDA)" "$LOGS/machine.txt"
    echo "tests: $(grep -E '[0-9]+ (passed|failed|error)' "$LOGS/tests.log" | tail -n 1)"
    grep -E "^ResNet-152 at 448" "$LOGS/tests.log"
    grep -E "^ResNet|^device:|^forward|^peak device|agree to" "$LOGS/bench.log" 2>/dev/null
    grep -E "explanations/s|gpu/cpu" "$LOGS/explain-rate.log" 2>/dev/null
    if [ -f "$LOGS/bench-reference.log" ]; then
        echo "with HADAMARD_FAST=0, the reference ops (batch 1):"
        grep -E "^forward" "$LOGS/bench-reference.log"
    fi
    if [ ${#FAILED[@]} -eq 0 ]; then echo "all steps passed"; else printf 'FAILED: %s\n' "${FAILED[@]}"; fi
} | tee "$LOGS/summary.txt"
[ ${#FAILED[@]} -eq 0 ]
