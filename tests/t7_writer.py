"""A small Torch7 (binary ``torch.save``) writer for test fixtures: the layout ``porting.torch7`` reads.

Writes None, bools, numbers, strings, dicts/lists (Lua tables, lists keyed 1..n), NumPy arrays (as a
``torch.<Type>Tensor`` over a storage of its own) and ``TorchObject`` (class name + field table).
"""
import numpy

from hadamard_min.io.porting.torch7 import BOOLEAN, NIL, NUMBER, STRING, TABLE, TORCH, TorchObject

_TYPES = {numpy.dtype("float32"): "Float", numpy.dtype("float64"): "Double", numpy.dtype("int64"): "Long"}


class _Writer:
    def __init__(self, file):
        self.file, self.count = file, 0

    def raw(self, dtype, *values):
        self.file.write(numpy.asarray(values, dtype=dtype).tobytes())

    def string(self, text):
        data = text.encode("utf-8")
        self.raw("<i4", len(data))
        self.file.write(data)

    def new_index(self):
        self.count += 1
        self.raw("<i4", self.count)

    def torch_header(self, class_name):
        self.raw("<i4", TORCH)
        self.new_index()
        self.string("V 1")
        self.string(class_name)

    def write(self, obj, cuda=False):
        if obj is None:
            self.raw("<i4", NIL)
        elif isinstance(obj, bool):
            self.raw("<i4", BOOLEAN, int(obj))
        elif isinstance(obj, int | float):
            self.raw("<i4", NUMBER)
            self.raw("<f8", obj)
        elif isinstance(obj, str):
            self.raw("<i4", STRING)
            self.string(obj)
        elif isinstance(obj, list | dict):
            items = list(enumerate(obj, 1)) if isinstance(obj, list) else list(obj.items())
            self.raw("<i4", TABLE)
            self.new_index()
            self.raw("<i4", len(items))
            for key, value in items:
                self.write(key)
                self.write(value)
        elif isinstance(obj, TorchObject):
            self.torch_header(obj.class_name)
            self.write(obj.fields)
        elif isinstance(obj, numpy.ndarray):
            self.tensor(obj, cuda)
        else:
            raise TypeError(f"cannot write {type(obj).__name__}")

    def tensor(self, array, cuda):
        """A tensor over its own contiguous storage; ``cuda`` writes torch.CudaTensor (float32 only)."""
        array = numpy.ascontiguousarray(array)
        name = "Cuda" if cuda else _TYPES[array.dtype]
        self.torch_header(f"torch.{name}Tensor")
        self.raw("<i4", array.ndim)
        self.raw("<i8", *array.shape)
        self.raw("<i8", *(s // array.itemsize for s in array.strides))
        self.raw("<i8", 1)
        self.torch_header(f"torch.{name}Storage")
        self.raw("<i8", array.size)
        self.file.write(array.astype(array.dtype.newbyteorder("<")).tobytes())


def write_t7(path, obj, cuda=False):
    """Write ``obj`` to ``path`` as torch.save would (binary); ``cuda``: float32 tensors as CudaTensor."""
    with open(path, "wb") as file:
        _Writer(file).write(obj, cuda)
