"""Fixtures for the end-to-end tests: the Discord stand-in, and real engine and bot processes.

The engine (tiny profile) is started once per session; its MIRAGE_DATA_DIR links the shared test
cache's tiny models and demo atlas, so they are built once per cache (its atlas store is its own). Each e2e module gets its own stand-in
and bot process (module-scoped event loop). Every process is stopped by a finalizer; its log is in
the session's temporary directory and its tail is shown when it fails to start.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

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


@pytest.fixture
def bot_stays_healthy(module_standin: StandIn, bot: BotProcess) -> Iterator[None]:
    """After the test: the bot process is alive and asked the stand-in for no route it lacks."""
    yield
    assert bot.alive, f"the bot process died:\n{bot.log_tail()}"
    assert not module_standin.unsupported, [str(c) for c in module_standin.unsupported]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(module_standin: StandIn, engine: EngineProcess, e2e_log_dir: Path) -> AsyncIterator[BotProcess]:
    """The real bot process, connected to the module's stand-in and the session's engine."""
    process = await start_bot_process(module_standin, engine, e2e_log_dir / "bot.log")
    try:
        yield process
    finally:
        process.stop()
