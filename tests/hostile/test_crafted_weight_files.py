"""Weight files crafted against the readers' bookkeeping rather than their sizes: a storage declared twice
with two element types, dict keys that share one hash, integers too long to print, ill-typed or unbounded
safetensors fields, empty tensors with gigantic axes, two tensors under one name, and zips whose central
directory holds more entries than any reader allows. Each is refused in one line, and a plain file still loads.
"""
import io
import json
import struct
import time
import zipfile

import numpy
import pytest
from crafted import (
    EMPTY_DICT,
    MARK,
    NONE,
    SETITEMS,
    directory_zip,
    good_checkpoint,
    integer,
    npy_header,
    pickle_of,
    raw_zip,
    safetensors,
    state_dict,
    storage,
    t7_tensor,
    tensor,
    text,
    torch_zip,
)
from hostile_helpers import run_main

from hadamard_min.cli.port import main as port_main
from hadamard_min.io.limits import TooLargeError
from hadamard_min.io.model_files import SHIPPED_MODEL, load_model
from hadamard_min.io.npz import load_npz_metadata
from hadamard_min.io.porting import T7Error, read_names, read_t7
from hadamard_min.io.safe_pickle import load_pickle
from hadamard_min.io.weights import UnsafePickleError, WeightsError, load_weights

HASH_MODULUS = 2 ** 61 - 1  # hash(k · HASH_MODULUS) == 0 for every integer k


def port(tmp_path, capsys, name, data):
    (tmp_path / name).write_bytes(data)
    outcome = run_main(port_main, [tmp_path / name, tmp_path / "out.npz"], capsys)
    assert not (tmp_path / "out.npz").exists()
    return outcome


def test_one_storage_read_with_two_element_types_is_refused(tmp_path, capsys):
    floats = tensor(storage("0", 4, "FloatStorage"), (4,), (1,))
    as_bytes = tensor(storage("0", 16, "ByteStorage"), (16,), (1,))  # the same 16 bytes, as 16 elements
    data = numpy.arange(4, dtype="<f4").tobytes()
    checkpoint = torch_zip(pickle_of(state_dict(("a", floats), ("b", as_bytes))), [("0", data)])

    port(tmp_path, capsys, "retyped.pth", checkpoint).one_line_error("storage '0'", "<f4", "u1")


def test_a_storage_shared_by_two_tensors_of_its_type_still_loads(tmp_path):
    whole = tensor(storage("0", 4), (4,), (1,))
    tail = tensor(storage("0", 4), (2,), (1,), offset=2)
    (tmp_path / "shared.pth").write_bytes(torch_zip(pickle_of(state_dict(("a", whole), ("b", tail))),
                                                    [("0", numpy.arange(4, dtype="<f4").tobytes())]))
    arrays = load_weights(tmp_path / "shared.pth")
    assert arrays["a"].tolist() == [0, 1, 2, 3] and arrays["b"].tolist() == [2, 3]


def colliding_keys(count, kind):
    """A pickled dict (or set) of ``count`` integer keys that all hash to 0."""
    keys = [integer(k * HASH_MODULUS) for k in range(1, count + 1)]
    if kind == "dict":
        return EMPTY_DICT + MARK + b"".join(key + NONE for key in keys) + SETITEMS
    return b"\x8f" + MARK + b"".join(keys) + b"\x90"  # EMPTY_SET, MARK, keys, ADDITEMS


@pytest.mark.parametrize("kind", ["dict", "set"])
def test_keys_sharing_one_hash_are_refused_before_they_are_hashed(tmp_path, kind):
    w = tensor(storage("0", 1), (1,), (1,))
    path = tmp_path / "flood.pth"
    path.write_bytes(torch_zip(pickle_of(state_dict(("w", w), ("junk", colliding_keys(3000, kind)))),
                               [("0", bytes(4))]))
    start = time.perf_counter()
    with pytest.raises(UnsafePickleError, match=r"an integer of \d+ bits as a dict key"):
        load_weights(path)
    assert time.perf_counter() - start < 2


def test_a_vocabulary_of_colliding_keys_is_refused_too(tmp_path):
    (tmp_path / "words.pickle").write_bytes(pickle_of(colliding_keys(100, "dict")))
    with pytest.raises(UnsafePickleError, match="dict key"):
        read_names(tmp_path / "words.pickle", "words")


@pytest.mark.parametrize("key", [b"G?\xf0\x00\x00\x00\x00\x00\x00", MARK + integer(1) + integer(2) + b"t"],
                         ids=["float", "tuple"])
def test_keys_whose_hash_a_file_could_choose_are_refused(tmp_path, key):
    (tmp_path / "words.pickle").write_bytes(pickle_of(EMPTY_DICT + MARK + key + NONE + SETITEMS))
    with pytest.raises(UnsafePickleError, match="dict key"):
        read_names(tmp_path / "words.pickle", "words")


def test_plain_keys_still_load():
    mapping = {"yes": 1, b"no": 2, None: 3, True: 4, -(2 ** 63): 5, 2 ** 64 - 1: 6}
    ops = EMPTY_DICT + MARK
    for key, value in mapping.items():
        op = {str: text, int: integer}.get(type(key))
        ops += (op(key) if op else {b"no": b"C\x02no", None: NONE, True: b"\x88"}[key]) + integer(value)
    assert load_pickle(io.BytesIO(pickle_of(ops + SETITEMS)), "plain keys") == mapping


def test_an_integer_key_too_long_to_print_is_one_line(tmp_path, capsys):
    w = tensor(storage("0", 1), (1,), (1,))
    checkpoint = torch_zip(pickle_of(EMPTY_DICT + MARK + integer(10 ** 5000) + w + SETITEMS), [("0", bytes(4))])
    port(tmp_path, capsys, "long key.pth", checkpoint).one_line_error("more than 128 bits")


def test_an_integer_too_long_in_a_safetensors_header_is_one_line(tmp_path, capsys):
    header = safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(4))
    header = header[:8] + header[8:].replace(b"[1]", b"[" + b"1" * 5000 + b"]")
    data = (len(header) - 12).to_bytes(8, "little") + header[8:]
    port(tmp_path, capsys, "long.safetensors", data).one_line_error("more than 128 bits")


def test_an_integer_too_long_in_a_model_config_is_refused(tmp_path):
    metadata = load_npz_metadata(SHIPPED_MODEL)
    metadata["config"]["joint_dim"] = 1
    entries = {f"__{key}__": numpy.array(json.dumps(value)) for key, value in metadata.items()}
    entries["__config__"] = numpy.array(str(entries["__config__"]).replace('"joint_dim": 1', '"joint_dim": 1'
                                                                           + "0" * 5000))
    numpy.savez(tmp_path / "model.npz", **{"fc.bias": numpy.zeros(1, numpy.float32)}, **entries)
    with pytest.raises(TooLargeError, match="more than 128 bits"):
        load_model(tmp_path / "model.npz")


@pytest.mark.parametrize("field", [{"dtype": []}, {"dtype": {}}, {"dtype": None}, {"shape": [0, 2 ** 62]},
                                   {"shape": [2 ** 40, 0, 2 ** 40]}])
def test_a_safetensors_field_of_the_wrong_type_or_an_unbounded_axis_is_one_line(tmp_path, capsys, field):
    entry = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0], **field}
    port(tmp_path, capsys, "bad.safetensors", safetensors({"w": entry})).one_line_error("bad.safetensors")


def test_an_empty_npz_entry_with_an_unbounded_axis_is_refused(tmp_path):
    header = npy_header((0, 2 ** 62))
    (tmp_path / "w.npz").write_bytes(raw_zip([("w.npy", header, len(header), False)]))
    with pytest.raises(TooLargeError, match="non-empty axes"):
        load_weights(tmp_path / "w.npz")


def test_an_empty_torch_tensor_with_an_unbounded_axis_is_refused(tmp_path):
    w = tensor(storage("0", 1), (0, 2 ** 62), (1, 1))
    (tmp_path / "w.pth").write_bytes(torch_zip(pickle_of(state_dict(("w", w))), [("0", bytes(4))]))
    with pytest.raises(TooLargeError, match="non-empty axes"):
        load_weights(tmp_path / "w.pth")


def test_an_empty_torch7_tensor_with_an_unbounded_axis_is_a_t7_error(tmp_path):
    (tmp_path / "w.t7").write_bytes(t7_tensor((0, 2 ** 62), (1, 1)))
    with pytest.raises(T7Error, match="non-empty axes"):
        read_t7(tmp_path / "w.t7")


def test_a_torch7_table_of_more_entries_than_the_limit_is_refused_at_its_count(tmp_path):
    """Read entry by entry, a 16 MB table of 1,000,001 numbers took 8 s and 260 MB before the entries were counted."""
    entries = numpy.zeros(1_000_001, dtype=[("tag", "<i4"), ("key", "<f8"), ("value", "<i4")])
    entries["tag"], entries["key"] = 1, numpy.arange(1, entries.size + 1) + 0.5  # number keys, nil values
    (tmp_path / "table.t7").write_bytes(struct.pack("<iii", 3, 1, entries.size) + entries.tobytes())
    with pytest.raises(T7Error, match="a table of 1,000,001 entries"):
        read_t7(tmp_path / "table.t7")


def test_two_keys_that_give_one_name_are_refused(tmp_path, capsys):
    a, b = tensor(storage("0", 1), (1,), (1,)), tensor(storage("1", 1), (1,), (1,))
    checkpoint = torch_zip(pickle_of(EMPTY_DICT + MARK + NONE + a + text("None") + b + SETITEMS),
                           [("0", bytes(4)), ("1", bytes(4))])
    port(tmp_path, capsys, "none.pth", checkpoint).one_line_error("'None'")


def test_a_dotted_key_next_to_the_same_nested_one_is_refused(tmp_path):
    a, b = tensor(storage("0", 1), (1,), (1,)), tensor(storage("1", 1), (1,), (1,))
    ops = state_dict(("x", state_dict(("a.b", a))), ("x.a", state_dict(("b", b))))  # both flatten to x.a.b
    (tmp_path / "dots.pth").write_bytes(torch_zip(pickle_of(ops), [("0", bytes(4)), ("1", bytes(4))]))
    with pytest.raises(WeightsError, match=r"'x\.a\.b'"):
        load_weights(tmp_path / "dots.pth")


def test_a_nested_dict_next_to_the_dotted_key_it_flattens_to_is_refused(tmp_path):
    a, b = tensor(storage("0", 1), (1,), (1,)), tensor(storage("1", 1), (1,), (1,))
    ops = state_dict(("w", state_dict(("a", a))), ("w.a", b))  # a top-level tensor beside the nested one
    (tmp_path / "mixed.pth").write_bytes(torch_zip(pickle_of(ops), [("0", bytes(4)), ("1", bytes(4))]))
    with pytest.raises(WeightsError, match=r"'w\.a'"):
        load_weights(tmp_path / "mixed.pth")


def test_a_wrapped_state_dict_is_found_beside_a_tensor_of_the_checkpoint(tmp_path, capsys):
    best, weight = tensor(storage("0", 1), (), ()), tensor(storage("1", 2), (2,), (1,))
    ops = state_dict(("best_acc", best), ("epoch", integer(3)), ("state_dict", state_dict(("fc.weight", weight))))
    data = [("0", numpy.float32(0.5).tobytes()), ("1", numpy.array([1, 2], "<f4").tobytes())]
    (tmp_path / "wrap.pth").write_bytes(torch_zip(pickle_of(ops), data))

    run_main(port_main, [tmp_path / "wrap.pth", tmp_path / "out.npz"], capsys).success()

    assert {name: list(array) for name, array in load_weights(tmp_path / "out.npz").items()} == {"fc.weight": [1, 2]}


def test_a_checkpoint_with_two_wrapped_state_dicts_is_refused(tmp_path, capsys):
    ops = state_dict(("model", state_dict(("w", tensor(storage("0", 1), (1,), (1,))))),
                     ("state_dict", state_dict(("w", tensor(storage("1", 1), (1,), (1,))))))
    port(tmp_path, capsys, "two.pth", torch_zip(pickle_of(ops), [("0", bytes(4)), ("1", bytes(4))])).one_line_error(
        "two.pth", "state_dict, model")


@pytest.mark.parametrize("names, shown", [(["w\0", "v"], r"'w\x00'"), (["a\0x", "a\0y"], r"'a\x00x'"),
                                          (["w\ud800"], r"'w\ud800'"), (["a" * 70_000], "'" + "a" * 80 + "'...")],
                         ids=["NUL", "two NULs", "lone surrogate", "70,000 characters"])
def test_a_name_no_zip_entry_can_hold_is_refused_before_writing(tmp_path, capsys, names, shown):
    header = {name: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i, name in enumerate(names)}
    line = port(tmp_path, capsys, "names.safetensors", safetensors(header, bytes(4 * len(names)))).one_line_error(shown)
    assert len(line) < 300


def test_an_npz_with_two_entries_of_one_name_is_one_line(tmp_path, capsys):
    small, large = npy_header((1,)) + bytes(4), npy_header((2,)) + bytes(8)
    archive = raw_zip([("w.npy", small, len(small), False), ("w.npy", large, len(large), False)])
    port(tmp_path, capsys, "twice.npz", archive).one_line_error("'w.npy' more than once")


@pytest.fixture
def unparsed(monkeypatch):
    """Fail the test if ``zipfile`` ever parses a central directory."""
    def parse(self):
        raise AssertionError("zipfile parsed the central directory")
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", parse)


@pytest.mark.parametrize("suffix", [".pth", ".npz"])
@pytest.mark.parametrize("declared, zip64", [(None, False), (1, False), (10 ** 6, True), (1, True)],
                         ids=["counted", "declaring one", "zip64 declaring a million", "zip64 declaring one"])
def test_more_zip_entries_than_the_limit_are_refused_before_zipfile_parses_them(tmp_path, unparsed, suffix,
                                                                                declared, zip64):
    pickle = pickle_of(EMPTY_DICT)
    path = tmp_path / f"many{suffix}"
    path.write_bytes(directory_zip("archive/data.pkl", pickle, ["archive/data.pkl"] * 20_000, declared, zip64))
    with pytest.raises(TooLargeError, match="20,000"):
        load_weights(path)


def test_a_plain_checkpoint_still_opens(tmp_path):
    (tmp_path / "good.pth").write_bytes(good_checkpoint())
    assert load_weights(tmp_path / "good.pth")["w"].tolist() == [1.5, 2.5]
