"""The tables ``hadamard-bench`` prints: times, memory, and how close each side comes to the machine's floor.

The floor of a pass is its floating-point work divided by the machine's SGEMM rate (the faster of the two
sides' measured rates): the time it would take if every operation ran at the speed of a large matrix
product. Ours is counted as the work it does (its 3×3 convolutions as Winograd matrix products, on the fast
path), PyTorch's as direct convolutions (``cli/bench_workload.py``). "floor/time" is the share of the
floor reached: 1.0 would be a pass made of nothing but SGEMM.
"""
import numpy

from hadamard_min.cli.bench_workload import DEPTHS, GEMM_SHAPE, explain_flops


def _megabytes(value):
    return f"{value / 2**20:,.0f} MiB" if value else "n/a"


def floors(args, ours, theirs):
    """{side: seconds of the explain pass at the machine's SGEMM rate} and that rate (FLOP/s)."""
    from hadamard_min.fast.winograd import output_tile

    rate = max(side["gemm_rate"] for side in (ours, theirs) if side)
    layers, size, batch = DEPTHS[args.depth], args.size, args.batch[0]
    tile = None if args.reference else (lambda c, o, h, w: output_tile(c, fused=args.device == "gpu"))
    ours_flops = explain_flops(layers, size, batch, tile)
    return {"ours": ours_flops / rate, "torch": explain_flops(layers, size, batch) / rate}, rate


def report(args, ours, theirs):
    """The comparison table for the batch ``args.batch[0]`` (``theirs`` is None without torch)."""
    lines = [f"ResNet-{args.depth}, {args.size}×{args.size}, batch {args.batch[0]}, {args.device}, "
             f"medians of {args.runs} runs after {args.warmup} warm-up, sides in turn (our {ours['path']})",
             f"threads: ours {ours['threads']} ({ours['library']})"
             + (f", torch {theirs['threads']} ({theirs['library']})" if theirs else "")]
    if args.device == "gpu":
        on_cuda = theirs and "tf32" in theirs
        torch_tf32 = f", torch {theirs['tf32']}, cuDNN {theirs['cudnn']}" if on_cuda else ""
        lines.append(f"device: {ours['device']}; TF32: ours {ours['tf32']}{torch_tf32}; "
                     f"NVIDIA_TF32_OVERRIDE=0 on both")
    lines.append(f"{'':28}{'ours':>12}{'torch':>12}{'ours/torch':>12}    (fastest run: ours, torch)")
    for label, key in (("forward", "forward"), ("forward + guided backward", "explain"),
                       ("  the same, CPU time", "explain_cpu")):  # all threads' CPU seconds: loaded machines
        lines.append(_time_row(label, ours[key], theirs[key] if theirs else None))
    memory = [("peak RSS", "peak_rss"), ("RSS before the runs", "rss_before_run")]
    if args.device == "gpu":
        memory.append(("peak device memory in use", "device_peak"))
    for label, key in memory:
        other = theirs[key] if theirs else None
        ratio = f"{ours[key] / other:.2f}" if ours[key] and other else ""
        lines.append(f"{label:28}{_megabytes(ours[key]):>12}{_megabytes(other):>12}{ratio:>12}")
    floor, rate = floors(args, ours, theirs)
    reached = [f"{floor[name] / numpy.median(side['explain']):.2f}" if side else "n/a"
               for name, side in (("ours", ours), ("torch", theirs))]
    lines.append(f"{'explain floor/time':28}{reached[0]:>12}{reached[1]:>12}    (floor: ours "
                 f"{floor['ours']:.3f} s, torch {floor['torch']:.3f} s at {rate / 1e9:.0f} GFLOP/s)")
    lines.append(f"SGEMM {'×'.join(map(str, GEMM_SHAPE))}: ours {ours['gemm_rate'] / 1e9:.0f} GFLOP/s"
                 + (f", torch {theirs['gemm_rate'] / 1e9:.0f} GFLOP/s" if theirs else ""))
    if theirs:
        lines.append(f"guided input gradients agree to a relative error of "
                     f"{_relative_error(ours['gradient'], theirs['gradient']):.1e} (max-abs scaled)")
    return "\n".join(lines)


def explain_rate_report(args, ours, theirs):
    """Explanations per second of eq. 2-3 on easy-VQA, ours against the same model in torch."""
    count = ours["questions"]
    lines = [f"explanations (eq. 2-3: forward, ∇q, guided ∇v) with the shipped easy-VQA model, first {count} test "
             f"questions, {args.explain_batch} per batch, {args.device}, medians of {args.runs} runs, sides in turn",
             f"threads: ours {ours['threads']} ({ours['library']}, {ours['path']}"
             + (f"; {ours['workers']} worker processes, one BLAS thread each)" if ours.get("workers", 1) > 1 else ")")
             + (f", torch {theirs['threads']} ({theirs['library']})" if theirs else "")]
    rates = {name: count / numpy.median(side["explain"]) for name, side in (("ours", ours), ("torch", theirs))
             if side}
    lines += [f"{name:>6}: {rate:8.1f} explanations/s" for name, rate in rates.items()]
    if ours.get("workers", 1) > 1:  # what receiving the workers' results costs the cores they share
        lines.append(f"  ours: {numpy.median(ours['explain_cpu']):.3f} s of CPU a run in the parent process, "
                     "beside its workers'")
    if theirs:
        lines.append(f"ours/torch: {rates['ours'] / rates['torch']:.2f}× the rate; ∇v agree to a relative error "
                     f"of {_relative_error(ours['gradient'], theirs['gradient']):.1e} (last batch, max-abs scaled)")
    return "\n".join(lines)


def _relative_error(a, b):
    return float(numpy.abs(a - b).max() / max(numpy.abs(b).max(), 1e-30))


def _time_row(label, mine, other):
    ratio = f"{numpy.median(numpy.divide(mine, other)):.2f}" if other else ""
    theirs = f"{numpy.median(other):.4f} s" if other else "n/a"
    fastest = f"{min(mine):.4f} s" + (f", {min(other):.4f} s" if other else "")
    return f"{label:28}{numpy.median(mine):>10.4f} s{theirs:>12}{ratio:>12}    ({fastest})"
