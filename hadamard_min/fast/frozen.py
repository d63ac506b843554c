"""Inference forms of a frozen network's convolutions: batch norm folded in, 3×3 filters pre-transformed.

Batch-norm folding. In eval mode a batch norm is affine per channel, bn(z) = s ∘ z + t with
s = γ / √(σ² + ε) and t = β − μ s. After a convolution, bn(conv(x, W) + b) = conv(x, s·W) + (t + s·b):
one op instead of two, forward and backward, and the same values reach every ReLU (so guided masks are
unchanged). Only valid while the weights cannot change: for a frozen model (``Module.freeze()``).

Winograd. A folded 3×3, stride-1, padding-1 convolution then runs as F(m×m, 3×3) (``fast/winograd.py``)
with its filters' transform U = G g Gᵀ computed once (and U′, that of the turned filters, for F(4×4));
the folded 3×3 filters themselves are not kept.

The convolution layer that owns the weights owns its ``InferenceForm`` too: it is built on the first frozen
forward and dropped by ``Conv2d.weights_may_change()`` (training, unfreezing, loading, moving the model).

Parked filters. While the form runs, the layer's own filters are only read again if the model is saved or
unfrozen. So once the form of a model frozen by ``freeze()`` is built, filters of at least ``PARK_BYTES``
move out of the process's memory into an unlinked temporary file (``$TMPDIR``), mapped read-only (``park``):
the values are the same, any read still works (a frozen model's ``state_dict()`` then holds read-only
arrays: copy one before changing it), and the pages are the kernel's file cache, which it can drop and read
back. On ResNet-152 this takes the filters' 222 MB out of the explain pass's peak memory.
``weights_may_change()`` brings them back into memory, writable (``unpark``). Filters stay where they are on
a GPU, where the temporary folder is itself in memory (tmpfs: nothing would be saved), where no temporary
file can be written, and once the process's open files reach a quarter of its limit (each map holds one).
"""
import os
import tempfile
import weakref
from dataclasses import dataclass

import numpy

from hadamard_min.core.backend import array_module
from hadamard_min.core.tensor import Tensor
from hadamard_min.fast import cuda_kernels, winograd
from hadamard_min.fast.fused import FusedConv2d
from hadamard_min.fast.phases import PhaseConv2d


@dataclass
class InferenceForm:
    """conv + bn of a frozen model as one convolution: W' = s·W, b' = t + s·b; for 3×3/1 instead of W' its
    Winograd transform U = G W' Gᵀ (and U′ of the turned W' for F(4×4))."""
    weight: object
    bias: object
    u: object = None
    turned: object = None


def fold_conv_bn(conv, bn):
    """(s·W, t + s·b) with s = γ/√(σ²+ε), t = β − μ s: bn(conv(x)) = conv(x, s·W) + t + s·b in eval mode."""
    xp = array_module(conv.weight.data)
    scale = bn.weight.data / xp.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.data - bn.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias.data * scale
    dtype = conv.weight.dtype
    weight = xp.ascontiguousarray((conv.weight.data * scale.reshape(-1, 1, 1, 1)).astype(dtype))
    return weight, shift.astype(dtype)


def inference_form(conv, bn):
    """The form of ``bn(conv(·))`` for a frozen model, computed once and kept on ``conv``."""
    if conv.inference_form is None:
        weight, bias = fold_conv_bn(conv, bn)
        if (conv.kernel_size, conv.stride, conv.padding, conv.groups) != (3, 1, 1, 1):
            conv.inference_form = InferenceForm(weight, bias)
        else:
            tile = winograd.output_tile(weight.shape[1], cuda_kernels.fused(weight))
            turned = winograd.turned_filters(weight, tile) if tile != 2 else None
            conv.inference_form = InferenceForm(None, bias, winograd.filters(weight, tile), turned)
        if conv.parks_filters:
            conv.weight.data = park(conv.weight.data)
    return conv.inference_form


PARK_BYTES = 1 << 16
MEMORY_FILE_SYSTEMS = ("tmpfs", "ramfs")
_parked = weakref.WeakValueDictionary()  # id → the arrays ``park`` made (a copy or a view of one is not parked)


def park(array):
    """The values of a NumPy ``array`` of at least ``PARK_BYTES`` in an unlinked temporary file, mapped read-only
    (``numpy.memmap``); the array itself where it is smaller, not NumPy's, already parked, or where the module's
    docstring says filters stay."""
    if not isinstance(array, numpy.ndarray) or array.nbytes < PARK_BYTES or _is_parked(array) or not _room():
        return array
    try:
        with tempfile.TemporaryFile() as file:  # unlinked: its space is freed with the last map
            numpy.ascontiguousarray(array).tofile(file)
            file.flush()
            parked = numpy.memmap(file, dtype=array.dtype, mode="r", shape=array.shape)
    except OSError:
        return array
    _parked[id(parked)] = parked
    return parked


def unpark(array):
    """A parked array back in memory, writable (``park`` undone); any other array as it is."""
    return numpy.array(array) if _is_parked(array) else array


def _is_parked(array):
    return _parked.get(id(array)) is array


def _room():
    """Whether a parked array saves memory and the process can spare the open file its map holds."""
    try:
        import resource  # Unix only: the package itself imports on any system
        with open("/proc/self/mounts") as file:
            mounts = file.read()
        in_use = len(os.listdir("/proc/self/fd"))
        folder = tempfile.gettempdir()
    except (ImportError, OSError):  # not Linux, or no temporary folder: nothing is parked
        return False
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    spare = limit == resource.RLIM_INFINITY or in_use < limit // 4
    return spare and file_system(os.path.realpath(folder), mounts) not in MEMORY_FILE_SYSTEMS


def file_system(folder, mounts):
    """The type of the file system that holds ``folder``, from the lines of ``/proc/self/mounts``: that of the
    longest mount point above it (the last mounted where two are the same)."""
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = folder == point or folder.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def fast_convolution(stride):
    """The fast form of a convolution op with this stride: over phase planes when strided, else fused."""
    return PhaseConv2d if stride > 1 else FusedConv2d


def conv_bn(x, conv, bn):
    """bn(conv(x)) of a frozen model: one folded convolution, Winograd when it is 3×3 with stride 1."""
    form = inference_form(conv, bn)
    if form.u is not None:
        return winograd.WinogradConv2d.apply(x, u=form.u, turned=form.turned, bias=form.bias)
    return fast_convolution(conv.stride).apply(x, Tensor(form.weight), Tensor(form.bias), stride=conv.stride,
                                               padding=conv.padding, groups=conv.groups)
