"""What travels through the bot's job queue (bot/queue.py): a `Job`, its `Place` in line, and the two ways
the queue says no (`QueueRejected` at the door, `JobCancelled` by its owner)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

JobState = Literal["waiting", "running", "done", "cancelled"]
PositionHook = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Place:
    """Where a waiting job stands: `ahead` jobs start before it (exact when `exact`, else an estimate
    by submit order), and the expected wait from the recent start rate (None: no starts seen yet)."""

    ahead: int
    exact: bool
    eta_s: float | None = None

    @property
    def number(self) -> int:
        """1 = next to start."""
        return self.ahead + 1


PlaceHook = Callable[[Place], Awaitable[None]]


class QueueRejected(Exception):
    """A job was refused at the door (cap or cooldown); the message is fit to show the user."""


class JobCancelled(Exception):
    """The job's owner cancelled it."""


@dataclass(eq=False)
class Job:
    """One user request travelling through the queue."""

    user_id: int
    label: str
    id: str = field(default_factory=lambda: secrets.token_hex(6))  # random: old buttons never match new jobs
    state: JobState = "waiting"
    interrupted: bool = False  # stopped because the bot is shutting down, not by its owner
    ticket: int = 0  # submit order, for the coarse place
    slot_freed: bool = False  # its engine slot freed before its end (JobQueue.release_slot): it only posts now
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # set by its flow once its user has been told
    _granted: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    _moved: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[Any] | None = None

