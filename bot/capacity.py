"""How many jobs the bot lets talk to the engine at once: what the engine says it can take.

The engine's /readyz carries `capacity` (its pipeline workers; concurrent model calls share
batches). The bot asks at start and every `MIRAGE_ENGINE_CAPACITY_REFRESH_S` seconds, and resizes its
job queue to match; until the engine answers it keeps `MIRAGE_ENGINE_MAX_CONCURRENT`. Fairness
between users is the queue's and does not change.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from .queue import JobQueue

log = logging.getLogger(__name__)


async def engine_capacity(http: httpx.AsyncClient) -> int | None:
    """The engine's advertised capacity, or None when it cannot be read (down, old engine, bad body)."""
    try:
        response = await http.get("/readyz")  # answered with the capacity while loading (503) too
        capacity = response.json().get("capacity")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return capacity if isinstance(capacity, int) and capacity >= 1 else None


async def follow_engine_capacity(http: httpx.AsyncClient, queue: JobQueue, *, every_s: float) -> None:
    """Resize `queue` to the engine's capacity now and then every `every_s` seconds, until cancelled."""
    while True:
        capacity = await engine_capacity(http)
        if capacity is not None and capacity != queue.max_concurrent:
            log.info("the engine takes %d requests at once; was sending up to %d", capacity, queue.max_concurrent)
            queue.resize(capacity)
        await asyncio.sleep(every_s)
