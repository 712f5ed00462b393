"""Point an in-process discord.py client at a stand-in (tests.e2e.launch_bot does the same for a bot process)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import discord
import yarl
from discord.gateway import DiscordWebSocket

from .server import StandIn


@contextmanager
def point_discord_py_at(standin: StandIn) -> Iterator[None]:
    """Within the block, discord.py's REST base and default gateway are the stand-in's; restored after."""
    old_base, old_gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = standin.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway
