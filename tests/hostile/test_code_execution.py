"""Class 1, code and state: a pickle can neither run code nor change what a later load sees.

Each hostile file tries to change an object the reader hands to pickles (the stand-in of a storage type,
a rebuild function, the tensor type) or to reach Python (os.system, exec, subprocess) by every opcode
that names or calls an object. Each must be refused as unsafe; a canary file shows that nothing ran; and
a good checkpoint loaded afterwards must still give exactly float32 [1.5, 2.5].
"""
import pickle

import numpy
import pytest
from crafted import (
    APPEND,
    BUILD,
    EMPTY_DICT,
    MARK,
    NONE,
    POP,
    REDUCE,
    SETITEM,
    glob,
    good_checkpoint,
    pickle_of,
    state_dict,
    text,
    torch_zip,
    tuple_of,
)

from hadamard_min.io.porting import read_names
from hadamard_min.io.weights import UnsafePickleError, WeightsError, load_weights


def changes(target, state):
    """Ops that apply BUILD with ``state`` to ``target`` and drop the result."""
    return target + state + BUILD + POP


def dict_state(**items):
    return EMPTY_DICT + b"".join(text(key) + value + SETITEM for key, value in items.items())


def slot_state(**items):
    return tuple_of(NONE, dict_state(**items))


def good_load_is_exact(tmp_path):
    path = tmp_path / "good.pth"
    path.write_bytes(good_checkpoint())
    loaded = load_weights(path)["w"]
    return loaded.dtype == numpy.float32 and loaded.tolist() == [1.5, 2.5]


FLOAT_STORAGE = glob("torch", "FloatStorage")
REBUILD = glob("torch._utils", "_rebuild_tensor_v2")
MUTATIONS = {
    "BUILD dict state on FloatStorage": changes(FLOAT_STORAGE, dict_state(code=text("<f2"))),
    "BUILD slot state on FloatStorage": changes(FLOAT_STORAGE, slot_state(code=text("<f2"))),
    "BUILD __defaults__ on _rebuild_tensor_v2": changes(REBUILD, slot_state(__defaults__=tuple_of(text("x")))),
    "BUILD attribute on UntypedStorage": changes(glob("torch.storage", "UntypedStorage"), dict_state(code=text("<f8"))),
    "BUILD on the tensor type": changes(glob("torch", "Tensor"), dict_state(code=text("<f2"))),
    "SETITEM on FloatStorage": FLOAT_STORAGE + text("code") + text("<f2") + SETITEM + POP,
    "APPEND to _rebuild_tensor_v2": REBUILD + text("x") + APPEND + POP,
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_pickle_cannot_change_what_later_loads_see(tmp_path, name):
    hostile = tmp_path / "hostile.pth"
    hostile.write_bytes(torch_zip(pickle_of(MUTATIONS[name], EMPTY_DICT)))

    with pytest.raises(UnsafePickleError):
        load_weights(hostile)
    assert good_load_is_exact(tmp_path), f"after {name}, a good checkpoint loads differently"


def _system(canary):
    return glob("os", "system") + tuple_of(text(f"touch {canary}")) + REDUCE


CALLS = {
    "os.system": _system,
    "posix.system": lambda canary: glob("posix", "system") + tuple_of(text(f"touch {canary}")) + REDUCE,
    "builtins.exec": lambda canary: glob("builtins", "exec") + tuple_of(
        text(f"open({str(canary)!r}, 'w').close()")) + REDUCE,
    "subprocess.call": lambda canary: glob("subprocess", "call") + tuple_of(
        MARK + text("touch") + text(str(canary)) + b"l") + REDUCE,
    "STACK_GLOBAL os.system": lambda canary: text("os") + text("system") + b"\x93" + tuple_of(
        text(f"touch {canary}")) + REDUCE,
    "INST os.system": lambda canary: MARK + text(f"touch {canary}") + b"ios\nsystem\n",
    "OBJ os.system": lambda canary: MARK + glob("os", "system") + text(f"touch {canary}") + b"o",
    "rebuild_from_type_v2 calling os.system": lambda canary: glob("torch._tensor", "_rebuild_from_type_v2") + tuple_of(
        glob("os", "system"), glob("torch", "Tensor"), tuple_of(text(f"touch {canary}")), EMPTY_DICT) + REDUCE,
}


@pytest.mark.parametrize("name", CALLS)
def test_nothing_a_checkpoint_names_is_run(tmp_path, name):
    canary = tmp_path / "canary"
    hostile = tmp_path / "evil.pth"
    hostile.write_bytes(torch_zip(pickle_of(state_dict(("w", CALLS[name](canary))))))

    with pytest.raises(UnsafePickleError):
        load_weights(hostile)
    assert not canary.exists()
    assert good_load_is_exact(tmp_path)


def test_a_vocabulary_pickle_runs_nothing_either(tmp_path):
    canary = tmp_path / "canary"
    words = tmp_path / "wid_to_word.pickle"
    words.write_bytes(pickle_of(_system(canary)))
    plain = tmp_path / "plain.pickle"
    plain.write_bytes(pickle.dumps({1: "what", 2: "color"}))

    with pytest.raises(UnsafePickleError):
        read_names(words, "words")
    assert not canary.exists()
    assert read_names(plain, "words") == ["what", "color"]


def test_refusals_are_weights_errors_with_the_file_name(tmp_path):
    hostile = tmp_path / "hostile.pth"
    hostile.write_bytes(torch_zip(pickle_of(MUTATIONS["BUILD dict state on FloatStorage"], EMPTY_DICT)))
    with pytest.raises(WeightsError, match=r"hostile\.pth: refused") as error:
        load_weights(hostile)
    assert "\n" not in str(error.value)
