"""Run `python -m bot` unchanged, with discord.py's default gateway pointed at the stand-in.

discord.py 2.7.1's non-sharded Client never asks GET /gateway/bot: it connects to
`DiscordWebSocket.DEFAULT_GATEWAY` (wss://gateway.discord.gg) directly, so pointing only the REST base
(MIRAGE_DISCORD_API_BASE → discord.http.Route.BASE) at a stand-in is not enough. This launcher asks the
stand-in's GET /gateway for its websocket url, sets DEFAULT_GATEWAY, then runs the bot module as
`python -m bot` would. Usage: `python -m tests.e2e.launch_bot` with the bot's MIRAGE_* environment.
"""

from __future__ import annotations

import json
import os
import runpy
import urllib.request

import yarl
from discord.gateway import DiscordWebSocket


def point_gateway_at_standin(api_base: str) -> str:
    """Set discord.py's default gateway to the url the stand-in's GET /gateway returns; returns it."""
    with urllib.request.urlopen(f"{api_base.rstrip('/')}/gateway", timeout=10) as response:
        url = json.load(response)["url"]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    return url


if __name__ == "__main__":
    base = os.environ.get("MIRAGE_DISCORD_API_BASE")
    if base:
        point_gateway_at_standin(base)
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
