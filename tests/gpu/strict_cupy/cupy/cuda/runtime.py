"""cupy.cuda.runtime: the facts of the one stand-in device (CUDA 12.8 and compute capability 9.0 claimed)."""
import os

MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount():
    return 1


def runtimeGetVersion():
    return 12080


def driverGetVersion():
    return 12080


def getDevice():
    return 0


def getDeviceProperties(device):
    if device != 0:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": b"strict CuPy stand-in (NumPy on the CPU)", "totalGlobalMem": MEMORY, "major": 9,
            "minor": 0, "multiProcessorCount": os.cpu_count(), "maxThreadsPerBlock": 1024, "warpSize": 32}
