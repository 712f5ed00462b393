"""The bot's job queue: a per-user cap and cooldown, fair round-robin order, bounded concurrency.

Each user's jobs wait in their own line; when a slot frees, users take turns, so one person with
many requests cannot starve the others. No more than `max_concurrent` jobs talk to the engine at once,
and a job's slot is freed however it ends (answer, error, timeout or cancel), or earlier, once it has made
its last engine call (`release_slot`: posting the answer to Discord needs no engine slot).

Places in line scale to a whole school at once: a start or a cancel wakes only the first
`live_places` waiters (their exact place changed); everyone behind them gets a coarse `Place`
("about 400 ahead, ~6 min", bot/queue_line.py), refreshed every `coarse_refresh_s` by the waiter itself.
What a job is and the queue's refusals live in bot/queue_job.py (importable from here too).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .queue_job import Job as Job
from .queue_job import JobCancelled as JobCancelled
from .queue_job import JobState as JobState
from .queue_job import Place as Place
from .queue_job import PlaceHook as PlaceHook
from .queue_job import PositionHook as PositionHook
from .queue_job import QueueRejected as QueueRejected
from .queue_line import WaitingLine

log = logging.getLogger(__name__)

T = TypeVar("T")
LIVE_PLACES = 5  # waiters shown their exact place, woken whenever it changes
COARSE_REFRESH_S = 20.0  # how often a waiter further back recomputes its coarse place


class JobQueue:
    """Admission (cap, cooldown), fair dispatch and cancellation of bot jobs."""

    def __init__(
        self,
        *,
        max_concurrent: int,
        per_user_cap: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        live_places: int = LIVE_PLACES,
        coarse_refresh_s: float = COARSE_REFRESH_S,
    ) -> None:
        if max_concurrent < 1 or per_user_cap < 1 or cooldown_s < 0:
            raise ValueError(
                f"max_concurrent and per_user_cap must be ≥ 1 and cooldown_s ≥ 0; "
                f"got {max_concurrent}, {per_user_cap}, {cooldown_s}"
            )
        self.max_concurrent = max_concurrent
        self.per_user_cap = per_user_cap
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._line = WaitingLine()
        self._open: dict[str, Job] = {}
        self._last_submit: dict[int, float] = {}
        self.running = 0  # jobs holding an engine slot (not those that freed it early to post their answer)
        self.peak_running = 0
        self.live_places = live_places
        self.coarse_refresh_s = coarse_refresh_s
        self._tickets = itertools.count(1)

    # --- admission ------------------------------------------------------------------------
    def submit(self, user_id: int, label: str) -> Job:
        """Open a job for `user_id`, or raise `QueueRejected` saying why not (cap, cooldown)."""
        mine = self.open_jobs(user_id)
        if len(mine) >= self.per_user_cap:
            raise QueueRejected(
                f"You already have {len(mine)} request(s) open (the limit is {self.per_user_cap}). "
                "Wait for one to finish or cancel it."
            )
        now = self._clock()
        last = self._last_submit.get(user_id)
        if last is not None and now - last < self.cooldown_s:
            wait = self.cooldown_s - (now - last)
            raise QueueRejected(f"Slow down a little: you can send another request in {wait:.0f} s.")
        self._last_submit[user_id] = now
        job = Job(user_id=user_id, label=label, ticket=next(self._tickets))
        self._open[job.id] = job
        self._line.add(job)
        self._dispatch()
        return job

    def open_jobs(self, user_id: int | None = None) -> list[Job]:
        """Jobs not yet finished, optionally only one user's."""
        return [j for j in self._open.values() if user_id is None or j.user_id == user_id]

    # --- order ----------------------------------------------------------------------------
    def waiting_order(self) -> list[Job]:
        """Waiting jobs in the order they will start: users take turns, each user's jobs in order."""
        return self._line.order()

    def head(self, n: int) -> list[Job]:
        """The first `n` waiting jobs in start order, without building the whole order."""
        return self._line.head(n)

    def place(self, job: Job) -> Place:
        """Where `job` stands: exact within the first `live_places`, else estimated by submit order."""
        if job.state != "waiting":
            return Place(ahead=-1, exact=True, eta_s=0.0)
        return self._line.place(job, self.live_places)

    def position(self, job: Job) -> int:
        """1 = next to start, 2 = after that …; 0 once running (estimated beyond the first `live_places`)."""
        if job.state != "waiting":
            return 0
        return self.place(job).number

    # --- running --------------------------------------------------------------------------
    async def run(
        self,
        job: Job,
        work: Callable[[], Awaitable[T]],
        on_position: PositionHook | None = None,
        *,
        on_place: PlaceHook | None = None,
    ) -> T:
        """Wait for the job's turn (telling `on_position` each new place number, or `on_place` each new
        `Place`), then run `work`.

        Raises `JobCancelled` if the owner cancelled it. The slot is freed whatever happens.
        """
        try:
            await self._wait_for_turn(job, on_position, on_place)
            job._task = asyncio.ensure_future(work())
            try:
                return await job._task
            except asyncio.CancelledError:
                if job.state == "cancelled":
                    raise JobCancelled() from None
                raise
        finally:
            self.close(job)

    async def _wait_for_turn(
        self, job: Job, on_position: PositionHook | None, on_place: PlaceHook | None
    ) -> None:
        shown: Place | None = None
        while not job._granted.done():
            job._moved.clear()
            place = self.place(job)
            if shown is None or (place.ahead, place.exact) != (shown.ahead, shown.exact):
                shown = place
                if on_position is not None:
                    await on_position(place.number)
                if on_place is not None:
                    await on_place(place)
                continue  # the hooks awaited: look again before sleeping
            moved: asyncio.Future[Any] = asyncio.ensure_future(job._moved.wait())
            try:
                # a live place is woken by every move; a coarse one looks again now and then
                timeout = None if place.exact else self.coarse_refresh_s
                granted: asyncio.Future[Any] = job._granted
                await asyncio.wait([moved, granted], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                moved.cancel()
        if job._granted.cancelled() or job.state == "cancelled":
            raise JobCancelled()

    def cancel(self, job_id: str, user_id: int) -> bool:
        """Cancel an open job of `user_id`; False if there is no such job (finished, or not theirs)."""
        job = self._open.get(job_id)
        if job is None or job.user_id != user_id or job.state in ("done", "cancelled"):
            return False
        was_running = job.state == "running"
        job.state = "cancelled"
        if was_running and job._task is not None:
            job._task.cancel()
        elif not job._granted.done():
            self._remove_waiting(job)
            job._granted.cancel()
            self._dispatch()
        return True

    def interrupt_all(self) -> list[Job]:
        """Stop every open job because the bot is shutting down (each is marked `interrupted`, so its flow
        tells its owner why); returns them."""
        stopped = [job for job in self._open.values() if job.state not in ("done", "cancelled")]
        for job in stopped:
            job.interrupted = True
            self.cancel(job.id, job.user_id)
        return stopped

    def release_slot(self, job: Job) -> bool:
        """Free a running job's slot before it ends, because it has made its last engine call and only talks
        to Discord and the database now: the next waiting job starts at once. The job stays open (its cancel
        button and `interrupt_all` still reach it) and still counts as started; its `close` frees nothing a
        second time. False when it holds no slot (still waiting, finished, or freed already)."""
        if self._open.get(job.id) is not job or not self._holds_slot(job):
            return False
        job.slot_freed = True
        self.running -= 1
        self._dispatch()
        return True

    @staticmethod
    def _holds_slot(job: Job) -> bool:
        return job._granted.done() and not job._granted.cancelled() and not job.slot_freed

    def resize(self, max_concurrent: int) -> None:
        """Let `max_concurrent` jobs run at once (the engine's advertised capacity); waiting jobs start if room."""
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be ≥ 1; got {max_concurrent}")
        self.max_concurrent = max_concurrent  # running jobs above a lower limit finish; no new one starts
        self._dispatch()

    # --- bookkeeping ----------------------------------------------------------------------
    def _remove_waiting(self, job: Job) -> None:
        if self._line.remove(job):
            self._notify_waiting()

    def close(self, job: Job) -> None:
        """Forget a job and free its slot or place in line; safe to call more than once."""
        if self._open.pop(job.id, None) is None:
            return
        if self._holds_slot(job):
            self.running -= 1
        elif not job._granted.done() or job._granted.cancelled():
            self._remove_waiting(job)
        if job.state != "cancelled":
            job.state = "done"
        self._dispatch()

    def _dispatch(self) -> None:
        started = False
        while self.running < self.max_concurrent and self._line:
            job = self._line.pop_next(self._clock())
            job.state = "running"
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
            job._granted.set_result(None)
            started = True
        if started:
            self._notify_waiting()

    def _notify_waiting(self) -> None:
        """After a move, wake the waiters now in the live places (whose exact place may have changed, or
        who just moved into them). Those further back refresh their coarse place themselves."""
        for job in self.head(self.live_places):
            job._moved.set()
