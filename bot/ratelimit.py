"""The bot's pace on Discord's REST API: under the global limit, answers first, progress capped.

Discord allows a bot 50 requests per second in all (interaction callbacks and their webhooks
excepted) and answers more with 429s, which discord.py retries only five times before failing the
request. With a thousand people asking at once, the bot itself must keep under the limit, and spend
it on what matters first:

- URGENT: work of jobs that hold an engine slot (their thread, status line, answer, last word);
- NORMAL: anything else (setting up waiting jobs, quizzes, buttons);
- PROGRESS: status-line edits ("place 3 in the queue", "working…"), which may use at most
  `progress_share` of the budget, however many status lines there are.

`install` wraps the client's `HTTPClient.request`, so every REST call goes through one `RestBudget`
(a token bucket of `per_s` requests per second, with a small burst); the priority of a call comes from
the `priority` context it runs in (a context variable, inherited by tasks it starts). Within a level,
calls go oldest work first: a job takes its `order` when it starts, and all its calls carry it, so the
first job's status line is posted before the thousandth job's thread is opened (calls outside a job
take theirs when they are made).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

URGENT, NORMAL, PROGRESS = 0, 1, 2
EXEMPT_PREFIXES = ("/interactions/", "/webhooks/")  # interaction endpoints: not under the global limit
BURST_S = 0.1  # a full bucket holds this many seconds' worth: 45/s + 4.5 stays under 50 in any 1 s window

Priority = int | Callable[[], int]
_PRIORITY: ContextVar[Priority] = ContextVar("mirage_rest_priority", default=NORMAL)
_ORDER: ContextVar[int | None] = ContextVar("mirage_rest_order", default=None)
_ORDERS = itertools.count()  # one sequence for jobs and lone calls: lower goes first within a level


def new_order() -> int:
    """A place in the budget's line, after every one handed out so far (take it when a job starts)."""
    return next(_ORDERS)


@contextlib.contextmanager
def priority(value: Priority, *, order: int | None = None) -> Iterator[None]:
    """REST calls made inside (and in tasks started inside) go at `value`: a level, or a function read
    when the call is made (e.g. URGENT once the job holds an engine slot); and, with `order`, at that
    place within the level (an enclosing context's order is kept when none is given)."""
    token = _PRIORITY.set(value)
    order_token = _ORDER.set(order) if order is not None else None
    try:
        yield
    finally:
        if order_token is not None:
            _ORDER.reset(order_token)
        _PRIORITY.reset(token)


def current_priority() -> int:
    """The priority of a REST call made now."""
    value = _PRIORITY.get()
    return value() if callable(value) else value


class RestBudget:
    """A token bucket of `per_s` requests per second, handed out by priority; progress gets at most
    `progress_share` of it."""

    def __init__(self, per_s: float, progress_share: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_s <= 0 or not 0 < progress_share <= 1:
            raise ValueError(f"per_s must be > 0 and progress_share in (0, 1]; got {per_s}, {progress_share}")
        self.per_s = per_s
        self.progress_share = progress_share
        self._clock = clock
        self._burst = max(1.0, per_s * BURST_S)
        self._tokens = self._burst
        self._progress_tokens = 1.0
        self._stamp = clock()
        self._waiters: list[tuple[int, int, int, asyncio.Future[None]]] = []  # (priority, order, tie, future)
        self._ties = itertools.count()
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self.granted = {URGENT: 0, NORMAL: 0, PROGRESS: 0}

    async def acquire(self, level: int | None = None) -> None:
        """Wait for a token at `level` (default: the current `priority`)."""
        level = current_priority() if level is None else level
        self._refill()
        if not self._waiters and self._take(level):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        order = _ORDER.get()
        heapq.heappush(self._waiters, (level, new_order() if order is None else order, next(self._ties), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        self._wake.set()
        await future  # cancelled with the request: the dispatcher skips it

    def _refill(self) -> None:
        now = self._clock()
        elapsed, self._stamp = now - self._stamp, now
        self._tokens = min(self._burst, self._tokens + elapsed * self.per_s)
        self._progress_tokens = min(1.0, self._progress_tokens + elapsed * self.per_s * self.progress_share)

    def _take(self, level: int) -> bool:
        if self._tokens < 1 or (level == PROGRESS and self._progress_tokens < 1):
            return False
        self._tokens -= 1
        if level == PROGRESS:
            self._progress_tokens -= 1
        self.granted[level] = self.granted.get(level, 0) + 1
        return True

    async def _dispatch(self) -> None:
        while self._waiters:
            self._refill()
            while self._waiters and self._waiters[0][3].done():
                heapq.heappop(self._waiters)  # its request was cancelled
            if not self._waiters:
                break
            level, _, _, future = self._waiters[0]
            if self._take(level):
                heapq.heappop(self._waiters)
                future.set_result(None)
                continue
            # wait for the next token (a progress one when only progress waits), or a more urgent arrival
            if self._tokens < 1:
                pause = (1 - self._tokens) / self.per_s
            else:
                pause = (1 - self._progress_tokens) / (self.per_s * self.progress_share)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)


def install(http: Any, budget: RestBudget) -> bool:
    """Route every REST call of discord.py's `http` client through `budget` (once; False if already)."""
    if getattr(http, "_mirage_budget", None) is not None:
        return False
    original = http.request

    async def request(route: Any, **kwargs: Any) -> Any:
        if not str(getattr(route, "path", "")).startswith(EXEMPT_PREFIXES):
            await budget.acquire()
        return await original(route, **kwargs)

    http.request = request
    http._mirage_budget = budget
    return True


def budget_of(http: Any) -> RestBudget | None:
    """The budget installed on `http`, if any."""
    return getattr(http, "_mirage_budget", None)
