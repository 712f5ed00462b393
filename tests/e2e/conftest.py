"""Fixtures for the end-to-end tests: the Discord stand-in, and real engine and bot processes.

The engine (tiny profile) is started once per session; its MIRAGE_DATA_DIR links the shared test
cache's tiny models and demo atlas, so they are built once per cache (its atlas store is its own). Each e2e module gets its own stand-in
and bot process (module-scoped event loop). Every process is stopped by a finalizer; its log is in
the session's temporary directory and its tail is shown when it fails to start. A module whose tests
restart the bot declares its bot with `restartable_bot(...)`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.store.database import SQLITE_FILE
from tests.e2e.processes import FAST_BOT_ENV, BotProcess, EngineProcess, engine_data_dir
from tests.e2e.standin import StandIn

BOT_READY_TIMEOUT_S = 60.0


@pytest_asyncio.fixture
async def standin() -> AsyncIterator[StandIn]:
    """A fresh Discord stand-in on a free loopback port."""
    async with StandIn() as server:
        yield server


@pytest.fixture(scope="session")
def e2e_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the engine and bot processes write their output."""
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def engine(test_cache_dir: Path, e2e_log_dir: Path) -> Iterator[EngineProcess]:
    """The real engine process (tiny profile), ready; stopped at the end of the session.

    With MIRAGE_E2E_ENGINE_URL (and MIRAGE_E2E_ENGINE_TOKEN) set, an engine already running there is used
    instead (tests that kill the engine then skip)."""
    external = os.environ.get("MIRAGE_E2E_ENGINE_URL")
    if external:
        yield EngineProcess.running_at(external, os.environ.get("MIRAGE_E2E_ENGINE_TOKEN", ""))
        return
    process = EngineProcess(engine_data_dir(test_cache_dir, e2e_log_dir), e2e_log_dir / "engine.log")
    try:
        process.start()
        yield process
    finally:
        process.stop()


async def start_bot_process(
    standin: StandIn, engine: EngineProcess, log_path: Path, *, global_commands: bool = False, **extra_env: str
) -> BotProcess:
    """Start the bot against the stand-in and the engine; wait for READY and command sync.

    Its database lives in MIRAGE_DATA_DIR: give one to keep it across a restart; by default a fresh folder
    beside the log (never the repository's own data/). `global_commands`: no dev guild, so the bot syncs
    its commands globally (the only ones Discord offers in a DM with the bot)."""
    if "MIRAGE_DATA_DIR" not in extra_env:
        fresh = log_path.parent / f"{log_path.stem}-data-{uuid.uuid4().hex[:8]}"
        extra_env = {**extra_env, "MIRAGE_DATA_DIR": str(fresh)}
    discord_env = standin.env()
    if global_commands:
        del discord_env["MIRAGE_DEV_GUILD_ID"]
    bot = BotProcess(
        discord_env, engine.url, engine.token, log_path, extra_env={**FAST_BOT_ENV, **extra_env}
    )
    bot.start()
    try:
        await standin.wait_for(
            lambda: standin.ready or not bot.alive, BOT_READY_TIMEOUT_S, "the bot's READY and command sync"
        )
    except TimeoutError as exc:
        bot.stop()
        raise TimeoutError(f"{exc}\nbot log:\n{bot.log_tail()}") from None
    if not bot.alive:
        raise RuntimeError(f"the bot process exited at start:\n{bot.log_tail()}")
    return bot


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_standin() -> AsyncIterator[StandIn]:
    """One stand-in shared by a module's tests (and its bot)."""
    async with StandIn() as server:
        yield server


def assert_bot_healthy(standin: StandIn, bot: BotProcess) -> None:
    """The bot process is alive and asked the stand-in for no route it lacks."""
    assert bot.alive, f"the bot process died:\n{bot.log_tail()}"
    assert not standin.unsupported, [str(c) for c in standin.unsupported]


@pytest.fixture
def bot_stays_healthy(module_standin: StandIn, bot: BotProcess) -> Iterator[None]:
    """After the test: the bot process is alive and asked the stand-in for no route it lacks."""
    yield
    assert_bot_healthy(module_standin, bot)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(module_standin: StandIn, engine: EngineProcess, e2e_log_dir: Path) -> AsyncIterator[BotProcess]:
    """The real bot process, connected to the module's stand-in and the session's engine."""
    process = await start_bot_process(module_standin, engine, e2e_log_dir / "bot.log")
    try:
        yield process
    finally:
        process.stop()


@dataclass
class RestartableBot:
    """A module's bot process on its own data folder; `restart` kills it (a crash) and starts a new one
    on the same data, as after a crash in production."""

    standin: StandIn
    engine: EngineProcess
    work_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: BotProcess | None = None

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def db_path(self) -> Path:
        return self.data_dir / SQLITE_FILE

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Read the bot's database as it is on disk (WAL readers never block the bot)."""
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, args).fetchall()

    async def start(self) -> BotProcess:
        """Start the bot on this folder's data and wait for READY and command sync."""
        env = {"MIRAGE_DATA_DIR": str(self.data_dir), **self.extra_env}
        self.process = await start_bot_process(self.standin, self.engine, self.work_dir / "bot.log", **env)
        return self.process

    async def restart(self, *, before_start: float = 0.0) -> None:
        """SIGKILL the bot, wait `before_start` seconds, start it again and wait for its new command sync
        and gateway session (the stand-in's READY flag is still set from the first start)."""
        gateway = self.standin.gateway
        synced, identified = self.standin.commands.sync_count, gateway.identifies
        assert self.process is not None and self.process.process is not None
        self.process.process.kill()
        await asyncio.sleep(before_start)
        await self.start()
        await self.standin.wait_for(
            lambda: self.standin.commands.sync_count > synced
            and gateway.identifies > identified
            and gateway.connected.is_set(),
            90,
            "the restarted bot's command sync and gateway session",
        )

    def assert_healthy(self) -> None:
        """The current bot process is alive and asked the stand-in for no route it lacks."""
        assert self.process is not None
        assert_bot_healthy(self.standin, self.process)


def restartable_bot(name: str, **extra_env: str) -> Any:
    """A module-scoped fixture called `name`: a `RestartableBot` (with `extra_env`) for the module's
    stand-in and the session's engine, stopped after the module. Assign it to a module variable `name`."""

    @pytest_asyncio.fixture(scope="module", loop_scope="module", name=name)
    async def fixture(
        module_standin: StandIn, engine: EngineProcess, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[RestartableBot]:
        bot = RestartableBot(module_standin, engine, tmp_path_factory.mktemp(name), dict(extra_env))
        await bot.start()
        try:
            yield bot
        finally:
            if bot.process is not None:
                bot.process.stop()

    return fixture
