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

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ComputeLane:
    """Runs functions one at a time on its own thread; the caller blocks for the result or the error."""

    def __init__(self, name: str = "compute-lane") -> None:
        self._ident: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=self._mark)

    def _mark(self) -> None:
        self._ident = threading.get_ident()

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the lane's thread (at once, inline, when called from it)."""
        if threading.get_ident() == self._ident:
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        """Let the thread end once its queued calls have run (its OpenMP team goes with it)."""
        self._pool.shutdown(wait=True)


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
