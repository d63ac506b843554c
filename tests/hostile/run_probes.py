"""Run reader probes in this (child) process, each under a time limit, and print one JSON line per probe.

    python run_probes.py PROBES.json     PROBES: [[name, reader, path], ...]

A probe's outcome: "refused" (the reader raised its own error, one line), "loaded", "timeout",
"MemoryError", "RecursionError" or another exception's name, with the seconds it took. The parent sets
the memory limit (RLIMIT_AS), so a reader that allocates what a file declares fails here, not there.
"""
import json
import resource
import signal
import sys
import time


def readers():
    from hadamard_min.io.model_files import load_model
    from hadamard_min.io.porting import read_names, read_t7
    from hadamard_min.io.weights import WeightsError, load_npz_metadata, load_weights
    return WeightsError, {"weights": load_weights, "metadata": load_npz_metadata, "model": load_model,
                          "words": lambda path: read_names(path, "words"), "t7": read_t7}


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout


def main(probes_file, seconds=20):
    refused, table = readers()
    signal.signal(signal.SIGALRM, _alarm)
    with open(probes_file) as file:
        probes = json.load(file)
    for name, reader, path in probes:
        start = time.perf_counter()
        signal.alarm(seconds)
        try:
            table[reader](path)
            outcome, message = "loaded", ""
        except Timeout:
            outcome, message = "timeout", f"still running after {seconds} s"
        except refused as error:
            outcome, message = "refused", str(error)
        except BaseException as error:  # what a user would have seen as a traceback
            outcome, message = type(error).__name__, str(error)[:300]
        finally:
            signal.alarm(0)
        print(json.dumps({"name": name, "outcome": outcome, "seconds": round(time.perf_counter() - start, 2),
                          "message": message[:300]}), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"name": "peak resident memory, MiB", "outcome": peak}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
