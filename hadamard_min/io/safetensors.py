"""``.safetensors`` files read with NumPy alone, every declared size checked before anything is allocated.

A file is an 8-byte little-endian header length ``n``, ``n`` bytes of JSON
``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}``, then the raw tensor bytes.
A tensor's bytes are ``count(shape) · itemsize(dtype)`` (a Python int, which cannot overflow), must equal
``end − begin``, must lie inside the data and may not overlap another tensor's; every axis is bounded, not
only their product (``limits.element_count``), and every field has its type (a dtype is text).
"""
import itertools

import numpy

from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import (
    MAX_TENSORS,
    MAX_TEXT_BYTES,
    Budget,
    element_count,
    file_size,
    is_int,
    open_regular,
    parse_json,
)
from hadamard_min.io.torch_files import bfloat16_to_float32

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _entries(header, path, data_length):
    """``[(name, dtype code, shape, begin, end)]`` of the header, each checked, sorted by ``begin``."""
    corrupt = f"{path}: truncated or corrupt .safetensors file"
    count = len(header) - ("__metadata__" in header)
    if count > MAX_TENSORS:
        raise WeightsError(f"{path}: the header lists {count:,} tensors, more than {MAX_TENSORS:,}")
    entries = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            if not (isinstance(shape, list) and all(is_int(number) for number in (*shape, begin, end))):
                raise TypeError
        except (TypeError, KeyError, ValueError):
            raise WeightsError(f"{corrupt} (entry {name!r} is malformed); download it again") from None
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise WeightsError(f"{path}: tensor {name!r} has dtype {str(dtype)[:20]}, which is not supported "
                               f"(supported: {', '.join(DTYPES)}); convert it to float32")
        count = element_count(shape, path, f"tensor {name!r}")
        if not (0 <= begin <= end <= data_length and end - begin == count * numpy.dtype(DTYPES[dtype]).itemsize):
            raise WeightsError(f"{corrupt} (tensor {name!r}: bytes {begin}..{end} of {data_length} do not hold "
                               f"shape {tuple(shape)} of {dtype}); download it again")
        entries.append((name, dtype, tuple(shape), begin, end))
    entries.sort(key=lambda entry: entry[3:])
    # the tensors tile the data exactly, as the reference library requires: no byte shared, none left over
    for (first, *_, first_end), (second, _, _, second_begin, _) in itertools.pairwise(entries):
        if second_begin != first_end:
            relation = "share bytes" if second_begin < first_end else f"leave bytes {first_end}..{second_begin} unused"
            raise WeightsError(f"{corrupt} (tensors {first!r} and {second!r} {relation}); download it again")
    bounds = (entries[0][3], entries[-1][4]) if entries else (0, 0)
    if bounds != (0, data_length):
        raise WeightsError(f"{corrupt} (its tensors cover bytes {bounds[0]}..{bounds[1]} of the {data_length} after "
                           f"the header, not all of them); download it again")
    return entries


def load_safetensors(path):
    """``{name: array}`` of a .safetensors file (bfloat16 widened to float32)."""
    size = file_size(path)
    budget = Budget(path, size)
    with open_regular(path) as file:
        prefix = file.read(8)
        header_length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 0 < header_length <= min(size - 8, MAX_TEXT_BYTES):
            raise WeightsError(f"{path}: truncated or corrupt .safetensors file (header length {header_length}); "
                               f"download it again")
        try:
            header = parse_json(file.read(header_length), path, "header")
        except WeightsError as error:
            reason = str(error).removeprefix(f"{path}: ")
            raise WeightsError(f"{path}: truncated or corrupt .safetensors file ({reason}); download it again"
                               ) from None
        if not isinstance(header, dict):
            raise WeightsError(f"{path}: truncated or corrupt .safetensors file (header is not a JSON object); "
                               f"download it again")
        data_start = 8 + header_length
        arrays = {}
        for name, dtype, shape, begin, end in _entries(header, path, size - data_start):
            budget.spend(end - begin, f"tensor {name!r}")
            file.seek(data_start + begin)
            item = numpy.dtype(DTYPES[dtype])
            array = numpy.fromfile(file, dtype=item, count=(end - begin) // item.itemsize)
            if array.nbytes != end - begin:
                raise WeightsError(f"{path}: tensor {name!r} is cut short; download the file again")
            array = array.reshape(shape)
            arrays[name] = bfloat16_to_float32(array) if dtype == "BF16" else array.astype(item.newbyteorder("="),
                                                                                        copy=False)
    return arrays

