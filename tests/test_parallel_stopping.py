"""Stopping batch work in worker processes (hadamard_min/parallel.py): a worker ended in the middle of writing its
result holds neither this process nor the executor's threads."""
import multiprocessing
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="worker processes are forked (Linux)")

CUT_MID_WRITE = """
import struct, threading, time
from concurrent.futures import process
from hadamard_min.parallel import map_chunks

def cut_short(result_queue, work_id, result=None, exception=None, *rest, **named):
    if work_id == 0:
        return sent(result_queue, work_id, result, exception, *rest, **named)
    time.sleep(0.5)  # after chunk 0's result: the first 10 bytes of a 1 MB message, and no more
    result_queue._writer._send(struct.pack("!i", 1 << 20) + bytes(10))
    time.sleep(60)

sent, process._sendback_result = process._sendback_result, cut_short  # in the workers, forked after this
raised = []
threading.excepthook = raised.append  # the executor's threads end without an error
results = map_chunks(lambda shared, chunk: chunk, None, range(4), workers=2)
assert next(results) == 0
time.sleep(1.5)  # the other worker is now in the middle of its message
results.close()  # the caller stops reading: the workers are ended
print("stopped" if not raised else raised)
"""


def test_a_worker_ended_in_the_middle_of_its_result_does_not_hold_this_process():
    """The executor's manager thread waited for the rest of a message a terminated worker never finished, and
    held the process for ever: a test run once hung there, after an error in another chunk."""
    done = subprocess.run([sys.executable, "-c", CUT_MID_WRITE], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "stopped\n", done.stderr
