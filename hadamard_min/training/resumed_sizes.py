"""What a ``hadamard-train --resume`` must give as the run it continues did (the model's sizes, and its settings:
``train.resume``), and the one line that refuses another."""
from hadamard_min.io.errors import WeightsError

RESUMED_SIZES = (("width", ("backbone", "width")), ("joint-dim", ("joint_dim",)))  # hadamard-train's size options


def check_resumed_sizes(path, saved, ours):
    """Refuse a checkpoint whose --width or --joint-dim (from its ``saved`` config) is not this run's: loading its
    weights would fail with a list of every mismatched shape instead of naming the option."""
    for option, keys in RESUMED_SIZES:
        given, wanted = saved, ours
        for key in keys:
            given, wanted = given.get(key) if isinstance(given, dict) else None, wanted[key]
        if given is not None and given != wanted:
            refuse_other_run(path, option, given, wanted)


def refuse_other_run(path, option, given, wanted):
    """The one line for a checkpoint of a run whose --``option`` was ``given``, not this run's ``wanted``."""
    raise WeightsError(f"{path} is of a run with --{option} {str(given)[:20]}, not {wanted}: give the run's own, or "
                       f"start again without --resume")
