"""The random state a training run draws from, kept in its checkpoint so that ``--resume`` goes on exactly as
the run would have without the pause: the generator of the batch order, and NumPy's global generator, which
dropout draws from (``ops/nn.py``). On a GPU dropout draws from CuPy's, whose state is not kept: there a
resumed run goes on from the batch order alone."""
import math

import numpy

from hadamard_min.core.backend import get_xp
from hadamard_min.io.errors import WeightsError

KEY = "rng.dropout.key"  # the MT19937 key of numpy.random (624 uint32), an array of the checkpoint


def saved(rng):
    """(arrays, metadata) of the run's random state now, for the checkpoint."""
    state = {"batches": rng.bit_generator.state}
    if get_xp() is not numpy:
        return {}, state
    name, key, position, has_gauss, gauss = numpy.random.get_state()
    return {KEY: key}, {**state, "dropout": [name, int(position), int(has_gauss), float(gauss)]}


def restore(rng, arrays, state, path):
    """Put the state of :func:`saved` back; a checkpoint written without one (None) leaves both as they are."""
    if state is None:
        return
    try:
        rng.bit_generator.state = state["batches"]
        if "dropout" in state:
            name, position, has_gauss, gauss = state["dropout"]
            if not (name == "MT19937" and type(position) is int and 0 <= position <= 624 and has_gauss in (0, 1)
                    and isinstance(gauss, float) and math.isfinite(gauss)):  # NumPy takes a position of -5
                raise ValueError(f"MT19937 at {position!r}")
            key = arrays[KEY]
            if key.shape != (624,) or key.dtype != numpy.uint32:  # NumPy casts a float key, indexes a short one
                raise ValueError(f"a key of {key.dtype}{key.shape}, not uint32 (624,)")
            numpy.random.set_state((name, key, position, has_gauss, gauss))
    except (KeyError, TypeError, ValueError, OverflowError) as error:  # a negative PCG64 state: OverflowError
        raise WeightsError(f"{path}: its random state is not one NumPy takes ({str(error)[:80]}); the checkpoint "
                           f"is corrupt: start again without --resume") from None
