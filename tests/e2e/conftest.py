"""Fixtures for the end-to-end tests: the Discord stand-in, and real engine and bot processes.

The engine (tiny profile) is started once per session with the shared test cache as MIRAGE_DATA_DIR,
so its tiny models and demo atlas are built once per cache. Each e2e module gets its own stand-in
and bot process (module-scoped event loop). Every process is stopped by a finalizer; its log is in
the session's temporary directory and its tail is shown when it fails to start.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.processes import BotProcess, EngineProcess, engine_data_dir
from tests.e2e.standin import StandIn

# Quick retries and progress edits, no per-user cooldown: tests fire commands back to back.
E2E_BOT_ENV = {
    "MIRAGE_USER_COOLDOWN_S": "0",
    "MIRAGE_PROGRESS_INTERVAL_S": "0.3",
    "MIRAGE_ENGINE_RETRIES": "1",
    "MIRAGE_ENGINE_RETRY_BASE_S": "0.2",
    "MIRAGE_ENGINE_RETRY_MAX_S": "1",
    "MIRAGE_ENGINE_CONNECT_TIMEOUT_S": "2",
}
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
    process = EngineProcess(engine_data_dir(test_cache_dir), e2e_log_dir / "engine.log")
    try:
        process.start()
        yield process
    finally:
        process.stop()


async def start_bot_process(
    standin: StandIn, engine: EngineProcess, log_path: Path, **extra_env: str
) -> BotProcess:
    """Start `python -m bot` against the stand-in and the engine; wait for READY and command sync."""
    bot = BotProcess(standin.env(), engine.url, engine.token, log_path, extra_env={**E2E_BOT_ENV, **extra_env})
    bot.start()
    try:
        await standin.wait_until_ready(BOT_READY_TIMEOUT_S)
    except TimeoutError as exc:
        bot.stop()
        raise TimeoutError(f"{exc}\nbot log:\n{bot.log_tail()}") from None
    return bot


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_standin() -> AsyncIterator[StandIn]:
    """One stand-in shared by a module's tests (and its bot)."""
    async with StandIn() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(module_standin: StandIn, engine: EngineProcess, e2e_log_dir: Path) -> AsyncIterator[BotProcess]:
    """The real bot process, connected to the module's stand-in and the session's engine."""
    process = await start_bot_process(module_standin, engine, e2e_log_dir / "bot.log")
    try:
        yield process
    finally:
        process.stop()
