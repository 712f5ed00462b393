"""Fixtures for the end-to-end tests: the Discord stand-in, and (for the e2e tests) real engine and bot processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.e2e.standin import StandIn


@pytest_asyncio.fixture
async def standin() -> AsyncIterator[StandIn]:
    """A fresh Discord stand-in on a free loopback port."""
    async with StandIn() as server:
        yield server
