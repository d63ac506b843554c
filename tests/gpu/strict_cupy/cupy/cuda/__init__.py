"""cupy.cuda: one device (0), always present; nothing runs asynchronously, so synchronising waits for nothing."""
from .._array import Pool
from . import runtime


class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id >= runtime.getDeviceCount():
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    compute_capability = property(lambda self: "90")
    mem_info = property(lambda self: (runtime.MEMORY - Pool.used, runtime.MEMORY))

    def synchronize(self):
        pass

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    null = None

    def synchronize(self):
        pass


class MemoryPointer:
    def __init__(self, size):
        self.ptr, self.size = 0, size


class MemoryPool:
    """CuPy's pool reports the bytes of the live device arrays that own their memory; it allocates nothing
    (arrays are NumPy's, so an allocator set with ``set_allocator`` is never called)."""

    def malloc(self, size):
        return MemoryPointer(size)

    def used_bytes(self):
        return Pool.used

    def total_bytes(self):
        return Pool.used

    def free_bytes(self):
        return 0

    def n_free_blocks(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return 0


class PinnedMemoryPool:
    def free_all_blocks(self):
        pass

    def n_free_blocks(self):
        return 0


DEFAULT_POOL, PINNED_POOL = MemoryPool(), PinnedMemoryPool()
_allocator = DEFAULT_POOL.malloc


def is_available():
    return True


def get_current_stream(device=None):
    return Stream()


def set_allocator(allocator=None):
    global _allocator
    _allocator = allocator


def get_allocator():
    return _allocator


__all__ = ["Device", "MemoryPool", "PinnedMemoryPool", "Stream", "get_allocator", "get_current_stream",
           "is_available", "runtime", "set_allocator"]
