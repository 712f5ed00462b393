"""A database that is down or locked raises `DatabaseUnavailable` (the bot says "try again" and stays
up); it is usable again as soon as it is back; other errors are not disguised."""

from __future__ import annotations

import asyncio
import gc
import socket
from pathlib import Path

import pytest

from bot.store import Database, DatabaseUnavailable, jobs, open_url
from bot.store.database import make_engine
from bot.store.schema import upgrade_to_head
from tests.postgres import PostgresServer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens once it is closed


async def test_opening_a_postgresql_that_is_not_there_says_unavailable():
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/mirage"
    with pytest.raises(DatabaseUnavailable, match="cannot open the database at postgresql"):
        await open_url(url)


async def test_opening_a_sqlite_file_that_cannot_be_created_says_unavailable(tmp_path: Path):
    (tmp_path / "bot.sqlite3").mkdir()  # a directory where the file should be
    with pytest.raises(DatabaseUnavailable, match="cannot open the database"):
        await open_url(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    # aiosqlite leaves the failed connection's worker thread to be stopped when it is collected; collect
    # it while the loop still runs, or its stop lands on a closed loop (a warning, not our bug).
    gc.collect()
    await asyncio.sleep(0.05)


async def test_a_postgresql_that_goes_down_says_unavailable_and_works_again_when_back():
    server = PostgresServer().start()
    try:
        db = await open_url(server.create_database("mirage"))
        async with db.session() as s:
            await jobs.save_job(s, job_id="j1", user_id=1, kind="search", request={})
        server.pause()
        with pytest.raises(DatabaseUnavailable, match="unavailable right now"):
            async with db.session() as s:
                await jobs.get_job(s, "j1")
        server.resume()
        async with db.session() as s:  # the pool reconnects: no restart of the bot needed
            assert (await jobs.get_job(s, "j1")).kind == "search"
        await db.close()
    finally:
        server.stop()


async def test_a_locked_database_says_unavailable_instead_of_waiting_forever(database_url: str):
    engine = make_engine(database_url, lock_timeout_s=0.3)
    await upgrade_to_head(engine)
    db = Database(engine)
    async with db.session() as s:
        await jobs.save_job(s, job_id="j1", user_id=1, kind="search", request={})
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_lock() -> None:
        async with db.session() as s:
            await jobs.update_job(s, "j1", status="running")  # row lock (PostgreSQL), write lock (SQLite)
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_lock())
    await holding.wait()
    with pytest.raises(DatabaseUnavailable):
        async with db.session() as s:
            await jobs.update_job(s, "j1", status="done")
    release.set()
    await holder
    async with db.session() as s:  # free again
        assert (await jobs.update_job(s, "j1", status="done")).status == "done"
    await db.close()


async def test_errors_that_are_not_about_availability_pass_through_unchanged(db: Database):
    with pytest.raises(KeyError):
        async with db.session() as s:
            await jobs.save_job(s, job_id="j2", user_id=1, kind="search", request={})
            raise KeyError("the caller's own bug")
    async with db.session() as s:
        assert await jobs.get_job(s, "j2") is None  # rolled back


async def _hold_write_lock(db: Database, holding: asyncio.Event, release: asyncio.Event) -> None:
    from sqlalchemy import text

    from bot.store.models import AnswerThread, Job

    async with db.session() as s:
        await jobs.update_job(s, "j0", status="running")  # the write lock (SQLite)
        if s.bind.dialect.name == "postgresql":  # PostgreSQL locks rows: lock the tables the writes need
            tables = f"{Job.__tablename__}, {AnswerThread.__tablename__}"
            await s.execute(text(f"LOCK TABLE {tables} IN EXCLUSIVE MODE"))
        holding.set()
        await release.wait()


async def test_a_burst_of_writes_outlasts_a_lock_far_longer_than_the_lock_timeout(database_url: str):
    """Nothing forgotten: 300 jobs and threads written while the database stays locked for 10x the
    lock timeout are all there afterwards, written in a few batched transactions."""
    from bot.store import threads

    engine = make_engine(database_url, lock_timeout_s=0.2)
    await upgrade_to_head(engine)
    db = Database(engine)
    async with db.session() as s:
        await jobs.save_job(s, job_id="j0", user_id=1, kind="search", request={})
    holding, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write_lock(db, holding, release))
    await holding.wait()

    async def save(i: int) -> None:
        await db.write(lambda s: jobs.save_job(s, job_id=f"b{i}", user_id=i, kind="search", request={"i": i}))
        await db.write(
            lambda s: threads.remember_thread(
                s, thread_id=1000 + i, channel_id=1, guild_id=None, command="search", query="q", hit_ids=["x"]
            )
        )

    burst = asyncio.gather(*(save(i) for i in range(300)))
    await asyncio.sleep(2.0)  # 10 lock timeouts
    assert not burst.done() and db.write_retries >= 2
    release.set()
    await holder
    await asyncio.wait_for(burst, 60)
    async with db.session() as s:
        assert all([await jobs.get_job(s, f"b{i}") for i in range(300)])
        assert all([await threads.get_thread(s, 1000 + i) for i in range(300)])
    assert db.write_batches < 100  # batched, not one transaction per write
    await db.close()


async def test_a_queued_write_gives_up_only_at_its_deadline_and_a_bad_write_fails_alone(database_url: str):
    engine = make_engine(database_url, lock_timeout_s=0.2)
    await upgrade_to_head(engine)
    db = Database(engine)
    async with db.session() as s:
        await jobs.save_job(s, job_id="j0", user_id=1, kind="search", request={})
    # a write of its own that is wrong fails with its own error; the others in the batch are written
    results = await asyncio.gather(
        db.write(lambda s: jobs.save_job(s, job_id="ok1", user_id=1, kind="search", request={})),
        db.write(lambda s: jobs.save_job(s, job_id="j0", user_id=1, kind="search", request={})),  # duplicate
        db.write(lambda s: jobs.update_job(s, "ok1", status="bogus")),
        db.write(lambda s: jobs.save_job(s, job_id="ok2", user_id=1, kind="search", request={})),
        return_exceptions=True,
    )
    assert results[0].id == "ok1" and results[3].id == "ok2"
    assert isinstance(results[1], Exception) and not isinstance(results[1], DatabaseUnavailable)
    assert isinstance(results[2], ValueError) and "job status must be one of" in str(results[2])
    holding, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write_lock(db, holding, release))
    await holding.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DatabaseUnavailable):
        await db.write(lambda s: jobs.update_job(s, "ok2", status="done"), deadline_s=1.0)
    assert loop.time() - started >= 1.0
    release.set()
    await holder
    await db.close()
