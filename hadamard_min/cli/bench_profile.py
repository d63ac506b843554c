"""``hadamard-bench --profile``: where the explain pass spends its time, op by op, and each op's own floor.

While a pass runs under :class:`OpProfile`, the ``forward`` and ``backward`` of every op class (every
subclass of ``core.function.Function``) are timed; a call made inside another timed call counts for the
outer one. Each row is one op class and direction, its median time per pass over the profiled passes.

Each row gets its own floor, the shortest time the machine could take for that work:

    floor = max(GEMM FLOPs / SGEMM rate,  bytes read and written / memory bandwidth)

GEMM FLOPs are those of the op's matrix products as this implementation does them (a Winograd convolution
counts its tile products, not a direct convolution's), in both directions; the bytes are those the call
must read and write at least once (``traffic``). The SGEMM rate is the worker's (``bench_sides.gemm_rate``);
the bandwidth is that of a large array copy, measured twice: on one core, as a NumPy ufunc runs, and over
all the threads, as the machine could. "floor/time" near 1 is an op at its limit; above 1, its arrays were
still in the cache, which is faster than the copy of an array far larger than the cache. The time outside
every op (the graph walk, the sums of gradients that meet, wrapping arrays) is its own row.

A floor from FLOPs and bytes may be out of reach (an SGEMM's rate depends on its shape; a transform reads
each input more than once). "warm ms" is what the same calls take when each is made a second time at once,
on the same arrays, in passes of their own (``repeat``): what the op achieves at best, its arrays in the
cache, with nothing else in between. An op whose time is near its warm time can only go lower by doing
less work or by a faster kernel (the SGEMM's), not by better use of the memory. "products ms" is the time of
the op's matrix products alone, at the shapes it gives them, on the same BLAS (``bench_products``): what is
above it is the op's work around its products.
"""
import concurrent.futures
import math
import time

import numpy

from hadamard_min.cli.bench_products import products, time_products
from hadamard_min.core.function import Function

COPY_BYTES = 64 << 20  # the array copied to measure the bandwidth: far larger than any cache


def _op_classes(root=Function):
    for cls in root.__subclasses__():
        yield cls
        yield from _op_classes(cls)


def _arrays(values):
    return [v for v in (values if isinstance(values, tuple) else (values,)) if hasattr(v, "nbytes")]


def _owner(array):
    """The array that owns ``array``'s memory (NumPy's ``base`` of a view of a view is the owner)."""
    return array if array.base is None else array.base


def traffic(fn, inputs, outputs, direction):
    """Bytes one call must at least move: its inputs, the parameters it holds (a Winograd layer's filter
    transforms), what backward reads of what forward saved, and each new output array; 0 where every output
    is an input or a view of one (Add's backward hands dy on)."""
    inputs = _arrays(inputs)
    new = [a for a in _arrays(outputs) if not any(_owner(a) is _owner(b) for b in inputs)]
    if not new:
        return 0
    held = _arrays(tuple(getattr(fn, name, None) for name in ("u", "turned", "bias")))
    saved = _arrays(tuple(fn.saved)) if direction == "backward" else []
    return sum(a.nbytes for a in inputs + held + saved + new)


def gemm_flops(fn, arrays, result):
    """Floating-point operations of the matrix products of one forward call of the op ``fn``."""
    name = type(fn).__name__
    if name == "WinogradConv2d":
        (x,), u = arrays[:1], fn.u
        n, _, h, w = x.shape
        m = math.isqrt(len(u)) - 2
        return 2 * u.size * n * -(-h // m) * -(-w // m)
    if name.endswith("Conv2d"):
        weight = arrays[1]
        return 2 * result.size * (weight.size // weight.shape[0])
    if name in ("MatMul", "Linear"):
        a, b = arrays[:2]
        return 2 * a.size * (b.shape[-1] if name == "MatMul" else b.shape[0])
    return 0


def label(fn, arrays):
    """The row an op call belongs to: its class, and a convolution's kernel and stride."""
    name = type(fn).__name__
    if name == "WinogradConv2d":
        m = math.isqrt(len(fn.u)) - 2
        return f"WinogradConv2d F({m}×{m}, 3×3)"
    if name.endswith("Conv2d"):
        k = arrays[1].shape[-1]
        return f"{name} {k}×{k}/{fn.stride}"
    return name


class OpProfile:
    """Time every op's forward and backward while inside ``with OpProfile() as profile:`` (CPU arrays).

    ``repeat`` calls each op twice and keeps the first call's result: only for a pass whose ops give the same
    answer twice and change no state (the explain pass of a frozen model in eval mode; batch norm in training
    would update its running statistics twice, dropout would draw a second mask).
    """

    def __init__(self, repeat=False):
        self.rows = {}      # (label, direction) → [calls, seconds, GEMM FLOPs, bytes]
        self.products = {}  # (label, direction) → the matrix products of its calls (``bench_products``)
        self.repeat = repeat  # each call made twice, the second timed instead (its "warm" time)
        self.repeated = 0.0   # seconds spent in the first calls of repeated ones, not part of a pass's time
        self._depth = 0
        self._saved = []

    def _add(self, key, seconds, flops, nbytes):
        row = self.rows.setdefault(key, [0, 0.0, 0, 0])
        row[0] += 1
        row[1] += seconds
        row[2] += flops
        row[3] += nbytes

    def _timed(self, method, direction):
        profile = self

        def timed(fn, *args):
            if profile._depth:
                return method(fn, *args)
            profile._depth += 1
            try:
                if profile.repeat:  # the first call untimed (its result kept), the second at once, timed
                    start = time.perf_counter()
                    result = method(fn, *args)
                    profile.repeated += time.perf_counter() - start
                    start = time.perf_counter()
                    method(fn, *args)
                else:
                    start = time.perf_counter()
                    result = method(fn, *args)
            finally:
                profile._depth -= 1
            seconds = time.perf_counter() - start
            nbytes = traffic(fn, args, result, direction)
            if direction == "forward":
                fn.profile_label, fn.profile_flops = label(fn, args), gemm_flops(fn, args, result)
                key = (fn.profile_label, "forward")
                profile._add(key, seconds, fn.profile_flops, nbytes)
            else:
                gradients = len(_arrays(result))  # one product per gradient computed (dx, dW)
                key = (getattr(fn, "profile_label", type(fn).__name__), "backward")
                profile._add(key, seconds, getattr(fn, "profile_flops", 0) * gradients, nbytes)
            profile.products.setdefault(key, []).extend(products(fn, args, result, direction))
            return result
        return timed

    def __enter__(self):
        for cls in set(_op_classes()):
            for direction in ("forward", "backward"):
                if direction in vars(cls):
                    self._saved.append((cls, direction, vars(cls)[direction]))
                    setattr(cls, direction, self._timed(vars(cls)[direction], direction))
        return self

    def __exit__(self, *exc):
        for cls, direction, method in self._saved:
            setattr(cls, direction, method)
        self._saved.clear()


def _median(per_pass, key):
    return float(numpy.median([rows.get(key, [0, 0.0])[1] for rows in per_pass]))


def profile_passes(step, passes, warm_passes=2):
    """Run ``step`` ``passes`` times under :class:`OpProfile`, then ``warm_passes`` times with every call
    repeated, then each distinct matrix product alone: {"rows": [[label, direction, calls, median seconds, GEMM
    FLOPs, bytes, median warm seconds, seconds of its products alone]], "passes": [seconds of each whole pass],
    "warm_passes": [the same of the repeated passes, second calls]}."""
    times, per_pass, warm_times, warm_per_pass, found = [], [], [], [], {}
    for repeat in [False] * passes + [True] * warm_passes:
        with OpProfile(repeat) as profile:
            start = time.perf_counter()
            step()
            seconds = time.perf_counter() - start - profile.repeated
        (warm_times if repeat else times).append(seconds)
        (warm_per_pass if repeat else per_pass).append(profile.rows)
        found = found or profile.products  # one pass's products: every pass gives the same
    alone = time_products([product for listed in found.values() for product in listed])
    rows = []
    for key in per_pass[-1]:
        calls, _, flops, nbytes = per_pass[-1][key]
        warm = _median(warm_per_pass, key) if warm_per_pass else float("nan")
        products_alone = sum(alone[product] for product in found.get(key, ()))
        rows.append([*key, calls, _median(per_pass, key), flops, nbytes, warm, products_alone])
    return {"rows": rows, "passes": times, "warm_passes": warm_times}


def copy_rate(threads, repeats=5):
    """Bytes per second (read + written) of the fastest copy of ``COPY_BYTES`` split over ``threads`` threads."""
    source = numpy.ones(COPY_BYTES // 4, dtype=numpy.float32)
    target = numpy.empty_like(source)
    parts = [slice(i * len(source) // threads, (i + 1) * len(source) // threads) for i in range(threads)]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:  # NumPy lets go of the GIL while it copies
        best = math.inf
        for _ in range(repeats + 1):
            start = time.perf_counter()
            list(pool.map(lambda part: numpy.copyto(target[part], source[part]), parts))
            best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best


def profile_report(result):
    """The per-op table of one profiled worker's result (``profile``, ``gemm_rate``, ``copy_rates``)."""
    gemm, (one_core, all_cores) = result["gemm_rate"], result["copy_rates"]
    profile = result["profile"]
    total = float(numpy.median(profile["passes"]))
    lines = [f"per-op profile, median of {len(profile['passes'])} profiled passes of {total:.3f} s; "
             f"floors at SGEMM {gemm / 1e9:.0f} GFLOP/s and a copy's {all_cores / 1e9:.1f} GB/s "
             f"({one_core / 1e9:.1f} GB/s on one core, as a NumPy ufunc runs); \"products\": the op's matrix "
             f"products alone, at its shapes",
             f"{'op':34}{'dir':>9}{'calls':>7}{'ms':>9}{'share':>7}{'GFLOP':>8}{'MB':>8}"
             f"{'floor ms':>10}{'floor/time':>11}{'1-core floor':>13}{'warm ms':>9}{'products ms':>12}"]
    rows = sorted(profile["rows"], key=lambda row: -row[3])
    inside = sum(row[3] for row in rows)
    floors = warm = 0.0
    for name, direction, calls, seconds, flops, nbytes, warm_seconds, alone in rows:
        floor = max(flops / gemm, nbytes / all_cores)
        floors += floor
        warm += warm_seconds
        core_floor = max(flops / gemm, nbytes / one_core)
        lines.append(f"{name[:34]:34}{direction:>9}{calls:>7}{seconds * 1e3:>9.1f}{seconds / total:>7.1%}"
                     f"{flops / 1e9:>8.1f}{nbytes / 1e6:>8.0f}{floor * 1e3:>10.1f}"
                     f"{floor / max(seconds, 1e-12):>11.2f}{core_floor * 1e3:>13.1f}{warm_seconds * 1e3:>9.1f}"
                     f"{f'{alone * 1e3:.1f}' if alone else '':>12}")
    outside = max(total - inside, 0.0)
    lines.append(f"{'outside the ops (graph walk, sums)':34}{'':>16}{outside * 1e3:>9.1f}{outside / total:>7.1%}")
    matrix = sum(row[3] for row in rows if row[4])
    alone = sum(row[7] for row in rows)
    lines.append(f"ops with matrix products: {matrix * 1e3:.0f} ms, of which their products alone at their shapes "
                 f"{alone * 1e3:.0f} ms; the rest: {(inside - matrix) * 1e3:.0f} ms; outside: {outside * 1e3:.0f} "
                 f"ms. The pass's floor (sum of the rows' floors): {floors:.3f} s = {floors / total:.2f} of its "
                 f"time; every op as fast as it runs warm, the outside as it is: {warm + outside:.3f} s = "
                 f"{(warm + outside) / total:.2f}")
    return "\n".join(lines)
