"""The compute lane: every CPU model call on one thread, so OpenMP keeps a single team of workers."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from engine.batching.lane import ComputeLane, cpu_lane, lane_for, run_here

from .helpers import together


def test_calls_from_many_threads_all_run_on_the_lane_thread_and_get_their_own_results():
    lane = ComputeLane("test-lane")

    def where(n: int) -> tuple[int, str]:
        return n * n, threading.current_thread().name

    got = together([lambda n=n: lane.run(where, n) for n in range(6)])
    assert [square for square, _ in got] == [n * n for n in range(6)]
    assert len({name for _, name in got}) == 1 and got[0][1].startswith("test-lane")


def test_an_error_reaches_its_own_caller_and_the_lane_keeps_working():
    lane = ComputeLane()

    def boom() -> None:
        raise FloatingPointError("non-finite")

    with pytest.raises(FloatingPointError, match="non-finite"):
        lane.run(boom)
    assert lane.run(lambda: "still here") == "still here"


def test_a_call_made_on_the_lane_runs_inline_instead_of_waiting_for_itself():
    lane = ComputeLane()
    assert lane.run(lambda: lane.run(lambda: threading.current_thread().name)).startswith("compute-lane")


def test_models_on_the_cpu_share_the_process_lane_and_accelerated_ones_run_where_they_are_called():
    assert lane_for(SimpleNamespace(device="cpu")) == cpu_lane().run
    assert lane_for(SimpleNamespace()) == cpu_lane().run  # a model naming no device runs on the CPU
    assert lane_for(SimpleNamespace(device="cuda:0")) is run_here
    assert cpu_lane() is cpu_lane()


def test_a_process_told_to_stop_does_not_wait_for_a_model_call_in_flight():
    import subprocess
    import sys

    script = (
        "import threading, time\n"
        "from engine.batching.lane import ComputeLane\n"
        "lane = ComputeLane()\n"
        "threading.Thread(target=lane.run, args=(time.sleep, 60), daemon=True).start()\n"
        "time.sleep(0.2)\n"
        "print('exiting', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "exiting\n"  # not held for the 60 s call
