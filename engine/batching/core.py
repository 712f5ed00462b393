"""A dynamic batcher: calls from many threads that arrive within a short window share one model call.

Each caller blocks in `Batcher.__call__` with its own request. A dispatcher thread takes the oldest
waiting request and waits until no other request has arrived for `window_s` (at most MAX_WINDOWS
windows in all, or until `max_size` requests with the same key are waiting), then hands those
requests to `run` as one batch. A batch that runs long can `adopt` requests arriving meanwhile. `run` settles each
`Pending` on its own (a result or an exception), so one bad request fails alone; if `run` raises for
the whole batch, each request is retried alone so that only the culprit fails. A caller whose
cancel event is set while it waits leaves the line at once; once its batch runs, `run` decides.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from engine.models.base import GenerationCancelled

logger = logging.getLogger(__name__)

Req = TypeVar("Req")
POLL_S = 0.05  # how often a waiting caller looks at its cancel event
MAX_WINDOWS = 8  # a burst extends the wait by a window per arrival, up to this many windows in all


class Pending(Generic[Req]):
    """One caller's request inside a batch; the first `resolve` or `fail` wins."""

    def __init__(self, request: Req, cancel: threading.Event | None, key: Hashable) -> None:
        self.request = request
        self.cancel = cancel
        self.key = key
        self.arrived = time.monotonic()
        self._settled = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        """True once the caller went away."""
        return self.cancel is not None and self.cancel.is_set()

    @property
    def settled(self) -> bool:
        """True once a result or an error was given."""
        return self._settled.is_set()

    def resolve(self, result: Any) -> None:
        """Give the caller its result (ignored if already settled)."""
        with self._lock:
            if not self._settled.is_set():
                self._result = result
                self._settled.set()

    def fail(self, error: BaseException) -> None:
        """Give the caller an error (ignored if already settled)."""
        with self._lock:
            if not self._settled.is_set():
                self._error = error
                self._settled.set()

    def outcome(self) -> Any:
        """The result, or raise the error (call once settled)."""
        if self._error is not None:
            raise self._error
        return self._result


class Batcher(Generic[Req]):
    """Coalesces calls of one model role into batches of at most `max_size`, waiting at most `window_s`."""

    def __init__(
        self,
        role: str,
        run: Callable[[list[Pending[Req]]], None],
        *,
        window_s: float,
        max_size: int,
        key: Callable[[Req], Hashable] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size: at least 1 (got {max_size})")
        if window_s < 0:
            raise ValueError(f"window_s: at least 0 (got {window_s})")
        self.role, self.run, self.window_s, self.max_size = role, run, window_s, max_size
        self.key = key or (lambda _: None)
        self.sizes: Counter[int] = Counter()  # batch size → how many batches ran at that size
        self.joined = 0  # requests adopted by a batch already running
        self._waiting: deque[Pending[Req]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def __call__(self, request: Req, *, cancel: threading.Event | None = None) -> Any:
        """Queue `request`, block until its batch has run, and return its own result (or raise its error)."""
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled(f"{self.role}: cancelled before it started")
        pending = Pending(request, cancel, self.key(request))
        with self._cond:
            if self._closed:
                raise RuntimeError(f"the {self.role} batcher is closed")
            self._ensure_thread()
            self._waiting.append(pending)
            self._cond.notify_all()
        while not pending._settled.wait(POLL_S):
            if pending.cancelled and self._withdraw(pending):
                raise GenerationCancelled(f"{self.role}: cancelled while waiting for a batch")
        return pending.outcome()

    def close(self) -> None:
        """Stop the dispatcher; requests still waiting fail."""
        with self._cond:
            self._closed = True
            waiting, self._waiting = list(self._waiting), deque()
            self._cond.notify_all()
        for pending in waiting:
            pending.fail(RuntimeError(f"the {self.role} batcher is closed"))

    def adopt(self, key: Hashable, limit: int) -> list[Pending[Req]]:
        """Take up to `limit` waiting requests with `key` into a batch that is already running (an LLM
        loop admits new rows between tokens); cancelled ones are failed, not taken."""
        taken: list[Pending[Req]] = []
        with self._cond:
            for pending in list(self._waiting):
                if len(taken) >= limit:
                    break
                if pending.key == key:
                    self._waiting.remove(pending)
                    taken.append(pending)
        live = self._drop_cancelled(taken)
        self.joined += len(live)
        return live

    @property
    def waiting(self) -> int:
        """Requests waiting for a batch."""
        with self._cond:
            return len(self._waiting)

    # ---- dispatcher ----------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._dispatch, name=f"batch-{self.role}", daemon=True)
            self._thread.start()

    def _withdraw(self, pending: Pending[Req]) -> bool:
        with self._cond:
            try:
                self._waiting.remove(pending)
            except ValueError:
                return False  # its batch has started: `run` sees the cancel event
        return True

    def _dispatch(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self) -> list[Pending[Req]] | None:
        """The oldest waiting request and those with its key, once the window is over or the batch full."""
        with self._cond:
            while True:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return None
                first = self._waiting[0]
                # wait a window after the latest arrival (a burst keeps coming in), at most MAX_WINDOWS
                latest = first.arrived + self.window_s * MAX_WINDOWS
                while not self._closed and self._waiting and self._waiting[0] is first:
                    deadline = min(self._waiting[-1].arrived + self.window_s, latest)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._count(first.key) >= self.max_size:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    return None
                if not self._waiting or self._waiting[0] is not first:
                    continue  # the first one withdrew while we waited: start over with the next
                batch = [p for p in self._waiting if p.key == first.key][: self.max_size]
                for pending in batch:
                    self._waiting.remove(pending)
                return batch

    def _count(self, key: Hashable) -> int:
        return sum(1 for p in self._waiting if p.key == key)

    def _drop_cancelled(self, pendings: list[Pending[Req]]) -> list[Pending[Req]]:
        """`pendings` whose caller is still there; the cancelled ones are failed."""
        live = []
        for pending in pendings:
            if pending.cancelled:
                pending.fail(GenerationCancelled(f"{self.role}: cancelled before its batch ran"))
            else:
                live.append(pending)
        return live

    def _run(self, batch: list[Pending[Req]]) -> None:
        live = self._drop_cancelled(batch)
        if not live:
            return
        self.sizes[len(live)] += 1
        try:
            self.run(live)
        except BaseException as exc:  # the whole batch failed: find the culprit by running each alone
            if len(live) == 1:
                live[0].fail(exc)
            else:
                logger.warning("%s batch of %d failed (%s); retrying each request alone", self.role, len(live), exc)
                for pending in live:
                    if not pending.settled:
                        self._run_alone(pending)
        for pending in live:
            if not pending.settled:
                pending.fail(RuntimeError(f"{self.role}: the batch gave this request no result"))

    def _run_alone(self, pending: Pending[Req]) -> None:
        try:
            self.run([pending])
        except BaseException as exc:
            pending.fail(exc)
