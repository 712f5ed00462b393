"""One bot per database (bot/lock.py), the bot's liveness (bot/metrics.py /healthz), and no mentions.

The locks are the real ones: flock on a file beside a SQLite database, a session advisory lock on a real
PostgreSQL server (tests/postgres.py). The cross-process cases use a second Python process that holds
the lock and is killed with SIGKILL, as a crashed bot would be.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from bot.lock import FileLock, PostgresLock, instance_lock, keep_lock, wait_for_lock
from bot.metrics import STARTING_S, STUCK_AFTER_S, BotMetrics, Liveness, serve_metrics, stop_serving
from tests.e2e.processes import free_port

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from bot.lock import instance_lock
    async def main():
        lock = instance_lock(sys.argv[1])
        assert await lock.try_acquire()
        print("holding", flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main())
""")


async def test_a_second_lock_waits_until_the_first_is_released(database_url: str) -> None:
    first, second = instance_lock(database_url), instance_lock(database_url)
    assert isinstance(first, PostgresLock if database_url.startswith("postgresql") else FileLock)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await first.still_held()
        await first.release()
        assert await second.try_acquire()
    finally:
        await first.release()
        await second.release()


@pytest.mark.timeout(60)
async def test_a_killed_holder_is_taken_over_within_seconds_and_the_wait_is_logged(database_url, caplog):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, database_url], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        lock, waiting = instance_lock(database_url), []
        caplog.set_level("INFO", logger="bot.lock")
        task = asyncio.create_task(wait_for_lock(lock, poll_s=0.2, on_waiting=waiting.append))
        await asyncio.sleep(1.0)
        assert not task.done() and waiting == [True]
        assert "another bot is running" in caplog.text and "waiting; this one takes over when it stops" in caplog.text
        holder.send_signal(signal.SIGKILL)  # no clean-up of any kind: the kernel / the server must free it
        killed = time.monotonic()
        assert await asyncio.wait_for(task, 15)
        assert time.monotonic() - killed < 5.0
        assert waiting == [True, False] and "took the single-instance lock" in caplog.text
        await lock.release()
    finally:
        holder.kill()
        holder.wait()


async def test_stopping_while_waiting_returns_false(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    first, second = instance_lock(url), instance_lock(url)
    assert await first.try_acquire()
    stop = asyncio.Event()
    task = asyncio.create_task(wait_for_lock(second, poll_s=5, stop=stop))
    await asyncio.sleep(0.1)
    stop.set()
    assert await asyncio.wait_for(task, 2) is False
    await first.release()


async def test_a_lost_postgres_session_stops_the_bot(pg_url: str) -> None:
    """The server ended the lock's session (a restart, a failover): another bot may hold it now."""
    from sqlalchemy import text

    from bot.store.database import make_engine

    lock = instance_lock(pg_url)
    assert await lock.try_acquire()
    lost = asyncio.Event()
    watch = asyncio.create_task(keep_lock(lock, lost.set, every_s=0.1))
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                                     "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"))
            await admin.commit()
        await asyncio.wait_for(lost.wait(), 15)
        successor = instance_lock(pg_url)
        assert await successor.try_acquire()  # free for the next bot
        await successor.release()
    finally:
        watch.cancel()
        await lock.release()
        await engine.dispose()


class FakeClient:
    """What Liveness reads of a discord.Client: is_closed(), ws._keep_alive._last_recv."""

    def __init__(self) -> None:
        self.closed = False
        self.ws = None

    def is_closed(self) -> bool:
        return self.closed

    def hear(self, at: float) -> None:
        self.ws = type("WS", (), {"_keep_alive": type("KA", (), {"_last_recv": at})()})()


def test_liveness_follows_the_gateway() -> None:
    now = [1000.0]
    live, client = Liveness(clock=lambda: now[0]), FakeClient()
    assert live.check() == (True, "connecting to the Discord gateway")
    live.waiting_for_lock = True
    now[0] += STARTING_S * 3  # waiting for another bot's lock is alive, however long
    assert live.check() == (True, "waiting for the single-instance lock")
    live.waiting_for_lock, live.client = False, client
    client.hear(now[0])
    assert live.check() == (True, "connected")
    now[0] += STUCK_AFTER_S + 1  # heartbeats acknowledged every ~41 s: this long without a word is stuck
    alive, why = live.check()
    assert not alive and why == f"nothing from the Discord gateway for {STUCK_AFTER_S + 1:.0f} s (stuck)"
    client.hear(now[0])
    assert live.check()[0]
    client.ws = None  # disconnected: alive while discord.py reconnects, not forever
    assert live.check() == (True, "connecting to the Discord gateway")
    now[0] += STUCK_AFTER_S + 1
    assert live.check() == (False, f"not connected to the Discord gateway for {STUCK_AFTER_S + 1:.0f} s")


def test_healthz_and_metrics_share_the_port() -> None:
    port, now = free_port(), [0.0]
    live = Liveness(clock=lambda: now[0])
    server = serve_metrics(port, host="127.0.0.1", metrics=BotMetrics(), liveness=live)
    try:
        assert serve_metrics(port) is server  # the client's own call finds it running
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as ok:
            assert ok.status == 200 and ok.read().startswith(b"ok: connecting")
        now[0] += STARTING_S + 1
        with pytest.raises(urllib.error.HTTPError) as stuck:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert stuck.value.code == 503 and stuck.value.read().startswith(b"stuck: not connected")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as scrape:
            assert scrape.status == 200 and b"# HELP mirage_bot_interactions_total" in scrape.read()
    finally:
        stop_serving(port)


async def test_the_client_pings_no_one_unless_a_message_asks() -> None:
    import discord

    from bot.client import MirageBot
    from tests.bot.conftest import bot_settings

    bot = MirageBot(bot_settings("http://127.0.0.1:1"))
    mentions = bot.allowed_mentions
    assert mentions is not None
    assert mentions.to_dict() == discord.AllowedMentions.none().to_dict() == {"parse": []}
