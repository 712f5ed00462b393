"""The bounded queue for model work: a few worker threads, a waiting line of fixed length.

Model calls block (torch), so they never run on the event loop. A request gets a `Job`: an
asyncio future for its result, a `cancel` event the model code polls, and a stream of events
(`queued` position, `progress` steps) for server-sent events. When the waiting line is full,
`submit` raises `QueueFull` (the route answers 429); once stopping, `QueueClosed` (503). A job
cancelled while it is still waiting is dropped without ever touching a model.

Whether a taken job runs or is dropped is decided once, under the lock, when a worker takes it: a
cancel arriving after that reaches the running work through `job.cancel` (generation stops between
steps), and the job is counted as running until its work returns.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from engine.contract import ProgressEvent, QueuedEvent, SseEvent

logger = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """The waiting line is full; try again later."""


class QueueClosed(RuntimeError):
    """The queue is stopping (the engine is draining or shutting down): no new work."""


class JobDropped(RuntimeError):
    """The job was cancelled before a worker started it."""


class EngineDraining(JobDropped):
    """The job was dropped, unstarted, because the engine is shutting down (its client is still waiting)."""


class Job:
    """One unit of model work; `fn(job)` runs on a worker thread."""

    def __init__(self, fn: Callable[[Job], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.cancel = threading.Event()
        self.future: asyncio.Future[Any] = loop.create_future()
        self.events: asyncio.Queue[SseEvent] = asyncio.Queue()
        self.started = threading.Event()

    def emit(self, event: SseEvent) -> None:
        """Queue a server-sent event (a contract event model) for the request's stream; thread-safe, in order."""
        self._call_in_loop(self.events.put_nowait, event)

    def progress(self, step: int, total: int) -> None:
        """A ProgressCallback: `step` of `total` done."""
        self.emit(ProgressEvent(step=int(step), total=int(total)))

    def _resolve(self, result: Any = None, error: BaseException | None = None) -> None:
        def settle() -> None:
            if self.future.done():
                return
            if isinstance(error, JobDropped) and not isinstance(error, EngineDraining):
                self.future.cancel(str(error))  # its client has gone: no "never retrieved" noise
            elif error is not None:
                self.future.set_exception(error)
                if isinstance(error, EngineDraining):  # a client that left meanwhile never reads it
                    self.future.add_done_callback(mark_retrieved)
            else:
                self.future.set_result(result)

        self._call_in_loop(settle)

    def _call_in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        with suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self.loop.call_soon_threadsafe(fn, *args)


class WorkQueue:
    """`workers` threads taking jobs from a waiting line of at most `size` jobs."""

    def __init__(self, *, size: int, workers: int = 1, name: str = "model-work") -> None:
        if size < 1:
            raise ValueError(f"size: at least 1 (got {size})")
        if workers < 1:
            raise ValueError(f"workers: at least 1 (got {workers})")
        self.size, self.workers, self.name = size, workers, name
        self._waiting: deque[Job] = deque()
        self._running: set[Job] = set()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.completed = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        """Start the worker threads (idempotent)."""
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            self._threads = [
                threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True)
                for i in range(self.workers)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self, *, grace_s: float = 0.0, timeout: float = 5.0) -> bool:
        """Take no new work, drop the waiting jobs, give the running ones `grace_s` to finish, then set
        their cancel events and join the workers for up to `timeout` s. Blocks: call it off the event
        loop. True when every worker has exited."""
        self.close_intake()
        self.wait_idle(grace_s)
        self.cancel_running()
        with self._cond:
            threads, self._threads = self._threads, []
        loop_deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, loop_deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def close_intake(self) -> None:
        """Refuse new work (QueueClosed) and drop every waiting job; running jobs go on."""
        with self._cond:
            self._stopping = True
            waiting, self._waiting = list(self._waiting), deque()
            self.dropped += len(waiting)
            self._cond.notify_all()
        for job in waiting:
            job.cancel.set()
            job._resolve(error=EngineDraining("the engine is shutting down"))

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job is running (at most `timeout` s); True when none is. Off the event loop."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._running, timeout=timeout)

    def cancel_running(self) -> None:
        """Set the cancel event of every running job (generation stops between steps)."""
        with self._cond:
            for job in self._running:
                job.cancel.set()

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker."""
        with self._cond:
            return len(self._waiting)

    @property
    def running(self) -> int:
        """Jobs a worker has started and not finished."""
        with self._cond:
            return len(self._running)

    @property
    def accepting(self) -> bool:
        """False once the queue stops taking new work."""
        with self._cond:
            return not self._stopping

    def submit(self, fn: Callable[[Job], Any]) -> Job:
        """Queue `fn`; raises QueueFull when `size` jobs are already waiting. Call from the event loop."""
        job = Job(fn, asyncio.get_running_loop())
        with self._cond:
            if self._stopping:
                raise QueueClosed("the engine is shutting down")
            if len(self._waiting) >= self.size:
                raise QueueFull(f"{len(self._waiting)} requests are waiting (the limit is {self.size})")
            self._waiting.append(job)
            position = len(self._waiting)
            self._cond.notify()
        job.emit(QueuedEvent(position=position))
        return job

    def discard(self, job: Job) -> bool:
        """Set the job's cancel event; if it is still waiting, drop it now. True when dropped."""
        job.cancel.set()
        with self._cond:
            try:
                self._waiting.remove(job)
            except ValueError:
                return False
            self.dropped += 1
            ahead = list(self._waiting)
        job._resolve(error=JobDropped("cancelled while waiting"))
        self._announce_positions(ahead)
        return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                still_waiting = list(self._waiting)
                # decided here, once: a cancel after this point reaches the work through job.cancel
                run = not job.cancel.is_set()
                if run:
                    self._running.add(job)
                else:
                    self.dropped += 1
            self._announce_positions(still_waiting)
            if run:
                self._run(job)
            else:
                job._resolve(error=JobDropped("cancelled while waiting"))

    def _run(self, job: Job) -> None:
        job.started.set()
        job.emit(QueuedEvent(position=0))
        try:
            result = job.fn(job)
        except BaseException as exc:  # handed to the waiting request, which decides what to answer
            self._finish(job, failed=True)
            job._resolve(error=exc)
        else:
            self._finish(job, failed=False)
            job._resolve(result)

    def _finish(self, job: Job, *, failed: bool) -> None:
        with self._cond:
            self._running.discard(job)
            if failed:
                self.failed += 1
            else:
                self.completed += 1
            self._cond.notify_all()  # stop() may be waiting for the running jobs

    @staticmethod
    def _announce_positions(jobs: list[Job]) -> None:
        for position, job in enumerate(jobs, start=1):
            job.emit(QueuedEvent(position=position))


def mark_retrieved(future: asyncio.Future[Any]) -> None:
    """A done-callback that reads the future's outcome, so asyncio never logs it as never retrieved."""
    with suppress(BaseException):
        future.exception()
