"""The line of waiting jobs behind the bot's job queue (bot/queue.py): one line per user, users taking
turns, and each waiter's place.

Places scale to a whole school at once: the first few waiters' places are exact (`head`, built without
the whole order); everyone behind them gets a coarse `Place` from a sorted list of submit tickets (a
binary search, not a rebuilt order), with a wait estimated from the recent start rate.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque

from .queue_job import Job, Place

RATE_WINDOW = 50  # starts remembered to estimate the start rate (for the wait estimate)


class WaitingLine:
    """Waiting jobs in fair order: each user's jobs in their own line, users taking turns."""

    def __init__(self) -> None:
        self._lines: dict[int, deque[Job]] = {}  # user id → their waiting jobs, oldest first
        self._turns: deque[int] = deque()  # users with waiting jobs, whose turn is next first
        self._tickets: list[int] = []  # tickets of waiting jobs, ascending (appended in order)
        self._starts: deque[float] = deque(maxlen=RATE_WINDOW)

    def __bool__(self) -> bool:
        """Whether any job is waiting."""
        return bool(self._turns)

    def add(self, job: Job) -> None:
        """Put `job` at the end of its user's line (its ticket must be the highest given so far)."""
        self._tickets.append(job.ticket)
        self._lines.setdefault(job.user_id, deque()).append(job)
        if job.user_id not in self._turns:
            self._turns.append(job.user_id)

    def remove(self, job: Job) -> bool:
        """Take `job` out of line (cancelled, or closed before its turn); False if it was not waiting."""
        line = self._lines.get(job.user_id)
        if line is None or job not in line:
            return False
        line.remove(job)
        self._forget_ticket(job)
        if not line:
            del self._lines[job.user_id]
            self._turns.remove(job.user_id)
        return True

    def pop_next(self, now: float) -> Job:
        """Take out the job whose turn it is (the line must not be empty), counting a start at `now`."""
        user = self._turns.popleft()
        line = self._lines[user]
        job = line.popleft()
        if line:
            self._turns.append(user)  # their next job waits for everyone else's turn
        else:
            del self._lines[user]
        self._forget_ticket(job)
        self._starts.append(now)
        return job

    def _forget_ticket(self, job: Job) -> None:
        index = bisect.bisect_left(self._tickets, job.ticket)
        if index < len(self._tickets) and self._tickets[index] == job.ticket:
            del self._tickets[index]

    # --- order and places -----------------------------------------------------------------
    def order(self) -> list[Job]:
        """Waiting jobs in the order they will start: users take turns, each user's jobs in order."""
        lines = [list(self._lines[user]) for user in self._turns]
        order: list[Job] = []
        for round_ in itertools.zip_longest(*lines):
            order.extend(job for job in round_ if job is not None)
        return order

    def head(self, n: int) -> list[Job]:
        """The first `n` waiting jobs in start order, without building the whole order (O(n) when
        most users have one job waiting)."""
        order: list[Job] = []
        for depth in itertools.count():
            added = False
            for user in self._turns:
                line = self._lines[user]
                if depth < len(line):
                    order.append(line[depth])
                    added = True
                    if len(order) >= n:
                        return order
            if not added:
                return order
        return order  # pragma: no cover (the loop returns)

    def place(self, job: Job, live_places: int) -> Place:
        """Where the waiting `job` stands: exact within the first `live_places`, else estimated by submit order."""
        head = self.head(live_places)
        if job in head:
            ahead, exact = head.index(job), True
        else:
            ahead, exact = max(bisect.bisect_left(self._tickets, job.ticket), len(head)), False
        return Place(ahead=ahead, exact=exact, eta_s=self._eta(ahead + 1))

    def _eta(self, starts: int) -> float | None:
        """Seconds until `starts` more jobs have started, at the recent start rate."""
        if len(self._starts) < 2 or self._starts[-1] <= self._starts[0]:
            return None
        rate = (len(self._starts) - 1) / (self._starts[-1] - self._starts[0])
        return starts / rate
