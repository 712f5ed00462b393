"""What bench/load_bot.py measures besides the stand-in's view: the engine's own throughput on the same
command mix (no bot, no Discord), and what the bot forgot (threads and jobs its database lacks)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy import select

from bot.capacity import engine_capacity
from bot.engine_client import EngineClient
from bot.store.database import Database, make_engine
from bot.store.models import AnswerThread
from engine.contract import CompareRequest, GenerateRequest, SearchRequest

REMEMBERED_COMMANDS = ("mirage search", "mirage compare")  # their answers always show atlas items
LOG_LOSSES = ("not remembered", "not recorded", "not extended")
WARM_UP = 10  # requests sent first and not counted (the models' first calls are slower)


class Judged(Protocol):
    """An outcome of bench/load_bot.py (user, command, verdict)."""

    user: str
    command: str
    verdict: str


async def _one(engine: EngineClient, path: str, opts: dict[str, Any]) -> None:
    """What the bot asks the engine for this command: the call itself and the images it shows."""
    if path == "mirage search" and "image" in opts:
        _, data = opts["image"]
        result: Any = await engine.search_image(data, k=int(opts["k"]))
        hits = list(result.hits)
    elif path == "mirage search":
        result = await engine.search(SearchRequest(query=opts["query"], k=int(opts["k"])))
        hits = ([result.best] if result.best else []) + list(result.hits)
    elif path == "mirage compare":
        result = await engine.compare(
            CompareRequest(query=opts["base"], subtract=opts["subtract"], add=opts["add"], k=1)
        )
        hits = [h.hits[0] for h in (result.original, result.modified) if h.hits]
    else:
        result = await engine.generate(GenerateRequest(prompt=opts["prompt"], seed=opts["seed"], fast=opts["fast"]))
        hits = [result.nearest] if result.nearest else []
    await asyncio.gather(*(engine.fetch_image(h.image_url) for h in hits if getattr(h, "image_url", None)))


async def engine_alone(
    url: str, token: str, commands: list[tuple[str, dict[str, Any]]], cpu: Callable[[], float] = lambda: 0.0
) -> dict[str, Any]:
    """Answers per second of the engine alone: the commands sent as the bot would, at most the engine's
    advertised capacity at once (as the bot's queue does), after a few uncounted warm-up requests.
    `cpu`: the engine process's CPU seconds so far, for the cores it used meanwhile."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as http:
        capacity = await engine_capacity(http) or 2
        engine = EngineClient(http, retries=1, retry_base_s=0.2, retry_max_s=1)
        gate = asyncio.Semaphore(capacity)
        failed = 0

        async def guarded(path: str, opts: dict[str, Any]) -> None:
            nonlocal failed
            async with gate:
                try:
                    await _one(engine, path, opts)
                except Exception:  # noqa: BLE001 - counted, like the bot's clear errors
                    failed += 1

        await asyncio.gather(*(guarded(path, opts) for path, opts in commands[:WARM_UP]))  # not counted
        failed = 0
        started, cpu0 = time.monotonic(), cpu()
        await asyncio.gather(*(guarded(path, opts) for path, opts in commands))
        took, cpu_used = time.monotonic() - started, cpu() - cpu0
    answered = len(commands) - failed
    return {
        "requests": len(commands),
        "failed": failed,
        "capacity": capacity,
        "seconds": round(took, 2),
        "answers_per_s": round(answered / took, 3),
        "engine_cores": round(cpu_used / took, 2),
    }


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, all threads) a live process has used so far; 0.0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def forgotten(db_url: str, bot_log: Path, outcomes: list[Judged], thread_of: dict[str, int]) -> dict[str, Any]:
    """Answered search/compare threads missing from the bot's database, and losses the bot logged."""
    db = Database(make_engine(db_url))
    try:
        async with db.session() as session:
            remembered = set((await session.scalars(select(AnswerThread.thread_id))).all())
    finally:
        await db.close()
    answered = [o for o in outcomes if o.verdict == "answer" and o.command in REMEMBERED_COMMANDS]
    missing = [o.user for o in answered if thread_of.get(o.user) not in remembered]
    log = bot_log.read_text(errors="replace") if bot_log.exists() else ""
    logged = {phrase: log.count(phrase) for phrase in LOG_LOSSES}
    return {
        "threads_checked": len(answered),
        "threads_missing": len(missing),
        "missing_users": missing[:10],
        "logged": logged,
        "total": len(missing) + sum(logged.values()),
    }
