"""Snowflake ids and timestamps shaped like Discord's."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeFactory:
    """Makes unique, time-ordered snowflakes (timestamp << 22 | worker | increment), as Discord does."""

    def __init__(self, worker: int = 1) -> None:
        self._worker = worker & 0x1F
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        """A new snowflake, strictly greater than every earlier one from this factory."""
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            candidate = (ms << 22) | (self._worker << 17) | (next(self._counter) & 0xFFF)
            self._last = max(self._last + 1, candidate)
            return self._last


def iso_now() -> str:
    """The current time as Discord writes it (ISO 8601 with offset)."""
    return datetime.now(UTC).isoformat()


def interaction_token() -> str:
    """An opaque interaction/webhook token, URL-safe like Discord's."""
    return "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
