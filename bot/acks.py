"""Acknowledgements first: during a burst, no follow-up work until every waiting interaction is acknowledged.

Discord drops an interaction that is not acknowledged within 3 s ("The application did not respond").
When a thousand people click at once, each job's acknowledgement is one short callback, but its next
steps (the header edit, the thread, the status line) are several REST calls each, and the bot's event
loop serves whatever is ready in turn: acknowledgements of the last arrivals then wait behind the
follow-ups of the first. `AckGate` puts them in order:

1. the client tells the gate of every interaction as it arrives (`arrived`, from `MirageBot.dispatch`);
2. a flow that has acknowledged its own interaction waits at `acks_first()` before its follow-ups,
   until every interaction that arrived before it is acknowledged (one watcher task polls the oldest;
   each waiter is woken once, when its turn
   comes; later arrivals never hold an earlier waiter back);
3. an interaction that stays unacknowledged for `give_up_s` (one nobody answers, or a slow one) stops
   holding the others back.

Outside a burst nothing is pending and `acks_first()` returns at once.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

POLL_S = 0.005  # how often the watcher looks at the oldest pending interaction
GIVE_UP_S = 1.5  # past this, an unacknowledged interaction no longer holds follow-ups back


class _Responded(Protocol):
    """What the gate reads of an interaction: whether its response was sent (discord.py's is_done)."""

    def is_done(self) -> bool: ...


class AckGate:
    """Interactions that arrived and are not yet acknowledged, oldest first; `acks_first` waits for the
    ones that arrived before it was called (never for later ones, so a steady stream cannot starve it)."""

    def __init__(
        self, *, poll_s: float = POLL_S, give_up_s: float = GIVE_UP_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.poll_s, self.give_up_s, self._clock = poll_s, give_up_s, clock
        self._pending: deque[tuple[int, float, _Responded]] = deque()  # (arrival number, time, response)
        self._arrivals = 0  # interactions seen so far
        self._settled_below = 0  # every interaction numbered below this is acknowledged (or given up)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # heap of (target, tie, future)
        self._watcher: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Interactions still counted as waiting for their acknowledgement."""
        return len(self._pending)

    def arrived(self, interaction: Any) -> None:
        """Step 1: an interaction came in (call it synchronously, in arrival order)."""
        response = getattr(interaction, "response", None)
        if response is None or not callable(getattr(response, "is_done", None)):
            return
        self._pending.append((self._arrivals, self._clock(), response))
        self._arrivals += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="mirage-ack-gate")

    async def acks_first(self) -> None:
        """Step 2: return once every interaction that arrived before this call is acknowledged."""
        target = self._arrivals
        if self._settled_below >= target:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (target, id(waiter), waiter))
        await waiter

    async def _watch(self) -> None:
        """Step 3: drop acknowledged (and given-up) interactions from the front, waking the waiters as the
        front moves; stop when none is left."""
        while True:
            now = self._clock()
            while self._pending and (self._pending[0][2].is_done() or now - self._pending[0][1] > self.give_up_s):
                self._pending.popleft()
            self._settled_below = self._pending[0][0] if self._pending else self._arrivals
            while self._waiters and self._waiters[0][0] <= self._settled_below:  # wake only those now due
                _, _, waiter = heapq.heappop(self._waiters)
                if not waiter.done():
                    waiter.set_result(None)
            if not self._pending:
                return
            await asyncio.sleep(self.poll_s)


def gate_of(owner: Any) -> AckGate | None:
    """The client's gate (None for a client without one, e.g. in unit tests of a flow)."""
    gate = getattr(owner, "acks", None)
    return gate if isinstance(gate, AckGate) else None
