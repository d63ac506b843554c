"""Class 2, resources: a small file may not allocate gigabytes, run for minutes or recurse without end.

Every file here is small (bytes to a few MB) and declares far more: a 5 GiB .npz entry, a 3 GiB torch
storage, a zero-stride 30000² tensor, a model of width 10⁷, a model config within the parameter bound over
a file of one number, 2⁴⁰ shared references, an element count that overflows int64, a structure that
contains itself or nests 10,000 deep (ten times Python's recursion limit: deeper is the same probe, only
slower to build), a header of 20,001 tensors, 2^12 dotted names of 12 MB each, a 17 KB pickle whose
malformed value, written into its one-line error, would be 10^12 characters. All are read in one child
process under a 2 GiB address-space limit (RLIMIT_AS), each under a 20 s alarm: every reader must refuse its
file with its own one-line error, quickly, never by running out of memory.
"""
import json
import struct
import subprocess
import sys

import numpy
import pytest
from crafted import (
    APPEND,
    APPENDS,
    BINPERSID,
    EMPTY_DICT,
    EMPTY_LIST,
    EMPTY_TUPLE,
    MARK,
    NONE,
    POP,
    REDUCE,
    SETITEM,
    SETITEMS,
    TUPLE,
    get,
    glob,
    integer,
    npy_header,
    pickle_of,
    put,
    raw_zip,
    safetensors,
    state_dict,
    storage,
    t7_nested_tables,
    t7_tensor,
    tensor,
    text,
    torch_zip,
    tuple_of,
    zeros_deflated,
)
from hostile_helpers import HERE, ROOT
from legacy_torch_writer import legacy_file

from hadamard_min.io.model_files import SHIPPED_MODEL
from hadamard_min.io.weights import load_npz_metadata, save_weights

GiB = 1 << 30
MEMORY_LIMIT = 2 * GiB


def deflated_entry(name, header, zero_bytes):
    """A deflated zip entry: ``header`` then ``zero_bytes`` zeros, declared at its full size."""
    import zlib
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH) + zeros_deflated(zero_bytes)
    return name, data, len(header) + zero_bytes, True


def shared_references(levels):
    """``d_k = {"a": d_(k-1), "b": d_(k-1)}`` down to a 4 KiB tensor: 2^levels references in ~1 KB."""
    ops = tensor(storage("0", 1024), (1024,), (1,)) + put(0) + POP
    for level in range(1, levels + 1):
        ops += EMPTY_DICT + MARK + text("a") + get(level - 1) + text("b") + get(level - 1) + SETITEMS + put(level)
        ops += POP if level < levels else b""
    return pickle_of(ops)


def repeated_lists(levels=4, width=1000):
    """Opcodes leaving nothing on the stack, with memo ``levels - 1`` the list ``L_k = [L_(k-1)] * width`` over
    ``L_0 = [0] * width``: ~17 KB of pickle whose text, ``str(L_3)``, has 10^12 characters."""
    ops = EMPTY_LIST + MARK + b"K\x00" * width + APPENDS + put(0) + POP
    for level in range(1, levels):
        ops += EMPTY_LIST + MARK + get(level - 1) * width + APPENDS + put(level) + POP
    return ops


def shared_under_long_keys(levels=12, length=1 << 20):
    """``d_k = {"a" * length: d_(k-1), "b" * length: d_(k-1)}`` over ``d_0 = {}``: 2^levels dotted names of up
    to ``levels`` × ``length`` characters in a file of 2 × ``length`` bytes."""
    ops = text("a" * length) + put(1000) + POP + text("b" * length) + put(1001) + POP + EMPTY_DICT + put(0) + POP
    for level in range(1, levels + 1):
        ops += EMPTY_DICT + MARK + get(1000) + get(level - 1) + get(1001) + get(level - 1) + SETITEMS + put(level)
        ops += POP if level < levels else b""
    return pickle_of(ops)


def t7_shared_tables(levels):
    """Torch7 tables ``T_k = {T_(k-1), T_(k-1)}`` (the second a reference): 2^levels paths in ~1 KB."""
    def table(k):
        if k == 0:
            return struct.pack("<iii", 3, 1, 1) + struct.pack("<id", 1, 1.0) + struct.pack("<id", 1, 1.0)
        return (struct.pack("<iii", 3, k + 1, 2) + struct.pack("<id", 1, 1.0) + table(k - 1)
                + struct.pack("<id", 1, 2.0) + struct.pack("<ii", 3, k))
    return table(levels)


def model_with(tmp_path, name, **changes):
    """A model file like the shipped one whose config has ``changes`` (backbone entries under "backbone")."""
    metadata = load_npz_metadata(SHIPPED_MODEL)
    config = metadata["config"]
    config["backbone"].update(changes.pop("backbone", {}))
    config.update(changes)
    path = tmp_path / f"{name}.npz"
    save_weights(path, {"fc.bias": numpy.zeros(1, numpy.float32)}, metadata)
    return path


def build_probes(folder):
    """{name: (reader, path)} for every hostile file, written into ``folder``."""
    files = {}

    def add(name, reader, data):
        path = folder / name
        path.write_bytes(data)
        files[name] = (reader, path)

    add("5 GiB npz entry in 5 MB.npz", "weights", raw_zip([deflated_entry("w.npy", npy_header(((5 * GiB) // 4,)),
                                                                       5 * GiB)]))
    small = npy_header((30000, 30000)) + bytes(100)
    add("npz header declaring 3.6 GB over 100 bytes.npz", "weights", raw_zip([("w.npy", small, len(small), False)]))
    add("5 GiB metadata entry.npz", "metadata", raw_zip([
        deflated_entry("__config__.npy", npy_header((5 * GiB,), "|u1"), 5 * GiB)]))
    add("3 GiB storage in 3 MB.pth", "weights", torch_zip(
        pickle_of(state_dict(("w", tensor(storage("0", 3 * GiB // 4), (3 * GiB // 4,), (1,))))),
        [("0", zeros_deflated(3 * GiB))], declared={"0": 3 * GiB}, deflated={"0"}))
    add("zero-stride 30000x30000 tensor.pth", "weights", torch_zip(
        pickle_of(state_dict(("w", tensor(storage("0", 1), (30000, 30000), (0, 0))))), [("0", bytes(4))]))
    add("zero-stride 30000x30000 tensor.t7", "t7", t7_tensor((30000, 30000), (0, 0)))
    add("2^40 shared references.pth", "weights", torch_zip(shared_references(40), [("0", bytes(4096))]))
    add("2^40 shared tables.t7", "t7", t7_shared_tables(40))
    add("shape overflowing int64.safetensors", "weights", safetensors(
        {"w": {"dtype": "F32", "shape": [2 ** 62, 4], "data_offsets": [0, 0]}}))
    add("2000 tensors on the same 1 MiB.safetensors", "weights", safetensors(
        {f"w{i}": {"dtype": "F32", "shape": [1 << 18], "data_offsets": [0, 1 << 20]} for i in range(2000)},
        bytes(1 << 20)))
    add("2^12 names of 12 MB each in 2 MB.pth", "weights", torch_zip(shared_under_long_keys()))
    add("dict holding itself.pth", "weights", torch_zip(pickle_of(EMPTY_DICT + put(0) + text("me") + get(0) + SETITEM)))
    add("dicts 10000 deep.pth", "weights", torch_zip(pickle_of(
        (EMPTY_DICT + text("a")) * 10_000 + EMPTY_DICT + SETITEM * 10_000)))
    add("tables 10000 deep.t7", "t7", t7_nested_tables(10_000))
    # a value in a one-line message: written out in full first, str(value)[:80] never ended
    shown = repeated_lists() + get(3)
    add("10^12-character size in a message.pth", "weights", torch_zip(pickle_of(repeated_lists() + state_dict(
        ("w", glob("torch._utils", "_rebuild_tensor_v2") + MARK + NONE + integer(0) + get(3) + EMPTY_TUPLE + TUPLE
         + REDUCE)))))
    add("10^12-character persistent id in a message.pth", "weights", torch_zip(pickle_of(
        repeated_lists() + state_dict(("w", shown + BINPERSID)))))
    add("10^12-character storage view in a message.pth", "weights", legacy_file([], {}, main=pickle_of(
        repeated_lists() + state_dict(("w", tuple_of(text("storage"), glob("torch", "FloatStorage"), text("0"),
                                                     text("cpu"), integer(1), shown) + BINPERSID)))))
    add("list holding itself.pickle", "words", pickle_of(EMPTY_LIST + put(0) + get(0) + APPEND))
    add("lists 10000 deep.pickle", "words", pickle_of(EMPTY_LIST * 10_001 + APPEND * 10_000))
    add("lists 10000 deep.json", "words", b"[" * 10_000 + b"]" * 10_000)
    add("3 million lines.txt", "words", b"a\n" * 3_000_000)
    add("20001 empty tensors.safetensors", "weights", safetensors(
        {f"w{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(20_001)}))
    files["model of width 10^7"] = ("model", model_with(folder, "wide", backbone={"width": 10_000_000}))
    files["model of joint size 10^6"] = ("model", model_with(folder, "joint", joint_dim=1_000_000))
    files["model of 432 million parameters in 4 KB"] = ("model", model_with(  # within MAX_PARAMETERS
        folder, "declared", word_dim=1, question_dim=12_000, joint_dim=1, attention_dim=1))
    return files


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    probes = build_probes(folder)
    (folder / "probes.json").write_text(json.dumps([[name, reader, str(path)] for name, (reader, path) in
                                                    probes.items()]))

    def limit_memory():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    environment = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin"}
    done = subprocess.run([sys.executable, str(HERE / "run_probes.py"), str(folder / "probes.json")],
                          capture_output=True, text=True, timeout=900, env=environment, preexec_fn=limit_memory)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {line["name"]: line for line in lines}, done.stderr


PROBES = ["5 GiB npz entry in 5 MB.npz", "npz header declaring 3.6 GB over 100 bytes.npz", "5 GiB metadata entry.npz",
          "3 GiB storage in 3 MB.pth", "zero-stride 30000x30000 tensor.pth", "zero-stride 30000x30000 tensor.t7",
          "2^40 shared references.pth", "2^40 shared tables.t7", "2^12 names of 12 MB each in 2 MB.pth",
          "shape overflowing int64.safetensors",
          "2000 tensors on the same 1 MiB.safetensors", "dict holding itself.pth", "dicts 10000 deep.pth",
          "tables 10000 deep.t7", "10^12-character size in a message.pth",
          "10^12-character persistent id in a message.pth", "10^12-character storage view in a message.pth",
          "list holding itself.pickle", "lists 10000 deep.pickle",
          "lists 10000 deep.json", "3 million lines.txt", "20001 empty tensors.safetensors",
          "model of width 10^7", "model of joint size 10^6", "model of 432 million parameters in 4 KB"]


@pytest.mark.parametrize("name", PROBES)
def test_a_small_file_is_refused_before_it_allocates(outcomes, name):
    results, stderr = outcomes
    assert name in results, f"the child stopped before this probe: {stderr[-2000:]}"
    result = results[name]
    assert result["outcome"] == "refused", result
    assert "MemoryError" not in result["message"] and "\n" not in result["message"], result
    assert result["seconds"] < 10, result


def test_the_probes_never_needed_much_memory(outcomes):
    results, stderr = outcomes
    assert results.get("peak resident memory, MiB", {}).get("outcome", 10 ** 9) < 700, (results, stderr[-2000:])
