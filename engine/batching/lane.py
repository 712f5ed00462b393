"""One thread for every model call on the CPU: the compute lane.

Why: PyTorch's CPU kernels run on OpenMP (libgomp), which gives each OS thread that starts a
parallel region its own team of worker threads, kept for the thread's life. Once the teams hold more
threads than the machine has cores, libgomp cuts the workers' spin-wait to a few hundred turns, so
every parallel region (every matmul, conv, add) pays a futex sleep and wake. Each batcher has its own
dispatcher thread (clip_text, clip_image, llm, diffusion), so four teams: measured on the 2-core
build machine, a UNet step ran ~35% slower on a second thread while a first thread's team sat idle
(`bench/lane.py`). Handing every CPU model call to one thread keeps one team, and costs nothing on
two cores, where two model calls at once would only share the same cores.

On a GPU the models keep running on their dispatcher threads: the kernels queue on the device, and
an LLM's tokens should not wait behind a whole diffusion batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ComputeLane:
    """Runs functions one at a time on its own thread; the caller blocks for the result or the error.

    The thread is a daemon, as the batchers' dispatchers are: a process told to stop at once does not
    wait for a model call in flight (a graceful drain cancels those first, engine/api/drain.py).
    """

    def __init__(self, name: str = "compute-lane") -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future = item
            try:
                future.set_result(call())
            except BaseException as exc:  # the caller gets it; the lane goes on
                future.set_exception(exc)

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the lane's thread (at once, inline, when called from it)."""
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        future: Future[T] = Future()
        self._calls.put((partial(fn, *args, **kwargs), future))
        return future.result()

    def close(self) -> None:
        """End the thread once the calls queued before this one have run (its OpenMP team goes with it)."""
        self._calls.put(None)
        self._thread.join()


def run_here(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on the calling thread: the lane for a model that is not on the CPU."""
    return fn(*args, **kwargs)


_cpu_lane: ComputeLane | None = None
_cpu_lane_lock = threading.Lock()


def cpu_lane() -> ComputeLane:
    """The process's one lane for CPU model calls (made on first use)."""
    global _cpu_lane
    with _cpu_lane_lock:
        if _cpu_lane is None:
            _cpu_lane = ComputeLane()
        return _cpu_lane


def lane_for(model: object) -> Callable[..., Any]:
    """Where `model`'s calls run: the CPU lane for a model on the CPU (or one that names no device),
    its caller's thread for a model on an accelerator."""
    device = str(getattr(model, "device", "cpu"))
    return cpu_lane().run if device == "cpu" else run_here
