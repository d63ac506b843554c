"""What an .npz holds, crafted. Its metadata entries (``__config__``, ``__vocab__``, ``__answers__``,
``__explanation__``) are JSON text in a NumPy string array: as millions of one-character strings, or holding a
code point NumPy stores but Python cannot make a string of, they are refused in one line, in memory of the
order of the entry's own bytes, never with a traceback or half a gigabyte of Python strings. A saved
explanation's image may be 1 × 8,000,000 pixels (a few KB deflated): its figure is drawn in memory of the
order of the image, not of Pillow's Lanczos weights for a 13,000-fold shrink (6 per source pixel, 8 bytes each).
"""
import io
import json
import subprocess
import sys
import tracemalloc
import zipfile

import numpy
import pytest
from hostile_helpers import ROOT, run_main, write_photo

import hadamard_min as hm
from hadamard_min.cli.explain import main as explain
from hadamard_min.io.model_files import SHIPPED_MODEL
from hadamard_min.io.npz import load_npz_metadata
from hadamard_min.io.weights import WeightsError, load_weights

MiB = 1 << 20


def model_with_answers(path, array):
    """The shipped model with its ``__answers__`` entry replaced by ``array`` (deflated: a few hundred KB)."""
    with zipfile.ZipFile(SHIPPED_MODEL) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "__answers__.npy":
                stream = io.BytesIO()
                numpy.lib.format.write_array(stream, array, allow_pickle=False)
                data = stream.getvalue()
            out.writestr(name, data)
    return path


def test_six_million_one_character_strings_take_no_python_string_each(tmp_path):
    path = model_with_answers(tmp_path / "cjk.npz", numpy.full(6_000_000, "\u4e2d", dtype="<U1"))  # 24 MB
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError, match="'__answers__' is not JSON"):
            load_npz_metadata(path)
        peak = tracemalloc.get_traced_memory()[1] / MiB
    finally:
        tracemalloc.stop()
    assert peak < 150, f"{peak:.0f} MiB for a 24 MiB entry"  # a str per character: ~550 MiB


def test_joined_strings_read_as_tolist_joins_them(tmp_path):
    answers = numpy.array(['["a', "b\u00e9\u4e2d", '", "\U0001f600"]'])  # <U5: two strings padded with NULs
    assert load_npz_metadata(model_with_answers(tmp_path / "m.npz", answers))["answers"] == ["ab\u00e9\u4e2d",
                                                                                          "\U0001f600"]


@pytest.mark.parametrize("shape", [(3,), ()])
def test_a_code_point_beyond_unicode_is_one_line(tmp_path, capsys, shape):
    codes = numpy.array([0x5B, 0x110000, 0x5D], numpy.uint32)
    array = codes.view("<U1") if shape else codes.view("<U3").reshape(())
    path = model_with_answers(tmp_path / "beyond.npz", array)

    outcome = run_main(explain, ["--weights", path, "--json", tmp_path / "out.json"], capsys)

    outcome.one_line_error("'__answers__'", "U+10FFFF")
    assert not (tmp_path / "out.json").exists()


DRAW = """
import resource, sys
import hadamard_min as hm
e = hm.Explanation.load(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
png = e._repr_png_()
print(len(png) > 0, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("shape", [(1, 8_000_000), (8_000_000, 1)], ids=["wide", "tall"])
def test_the_figure_of_a_saved_explanation_with_a_long_thin_image_takes_memory_of_the_image(tmp_path, shape):
    saved = tmp_path / "e.npz"
    hm.explain(hm.load_model(), write_photo(tmp_path / "p.png"), "what shape is it?").save(saved)
    with numpy.load(saved, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    fields = json.loads(str(entries["__explanation__"]))
    fields["framing"].update(image_size=list(shape), box=[0.0, 0.0, float(shape[1]), float(shape[0])])
    entries["__explanation__"] = numpy.array(json.dumps(fields))
    entries["image"] = numpy.zeros((*shape, 3), numpy.uint8)  # 24 MB, deflated to 23 KB
    numpy.savez_compressed(tmp_path / "thin.npz", **entries)

    environment = {"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", DRAW, str(tmp_path / "thin.npz")], capture_output=True, text=True,
                          timeout=300, env=environment)
    assert done.returncode == 0, done.stderr
    drew, grown = done.stdout.split()
    assert drew == "True" and int(grown) < 200, done.stdout + done.stderr  # Lanczos' weights alone: 384 MB


def test_a_header_past_numpys_limit_is_refused_without_numpys_advice_to_trust_the_file(tmp_path):
    """numpy refuses an .npy header over 10,000 bytes and advises ``allow_pickle=True``: never said here."""
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" + b" " * 20_000 + b"\n"
    entry = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header + numpy.ones(2, "<f4").tobytes()
    path = tmp_path / "long.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", entry)
    with pytest.raises(WeightsError, match=r"'w' has an \.npy header longer than numpy's 10,000 bytes") as error:
        load_weights(path)
    assert "allow_pickle" not in str(error.value)
