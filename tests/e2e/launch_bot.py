"""`python -m tests.e2e.launch_bot`: the real bot (`bot.__main__`), with discord.py pointed at a local stand-in.

Production code knows nothing of the stand-in: this launcher patches discord.py's REST base and default
gateway from two test-only variables, then runs the bot's own entry point unchanged.

    MIRAGE_E2E_DISCORD_API_BASE   e.g. http://127.0.0.1:9999/api/v10
    MIRAGE_E2E_DISCORD_GATEWAY    e.g. ws://127.0.0.1:9999/gateway-ws
"""

from __future__ import annotations

import logging
import os
import sys

import discord
import yarl
from discord.gateway import DiscordWebSocket

API_BASE_VAR = "MIRAGE_E2E_DISCORD_API_BASE"
GATEWAY_VAR = "MIRAGE_E2E_DISCORD_GATEWAY"

log = logging.getLogger("tests.e2e.launch_bot")


def point_discord_py(api_base: str, gateway_url: str) -> None:
    """Send every REST call to `api_base` and open the gateway at `gateway_url` (process-wide)."""
    discord.http.Route.BASE = api_base.rstrip("/")
    # A non-sharded client connects to the default gateway without asking REST for it.
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def main() -> int:
    """Patch discord.py from the environment, then run the bot's own `main`."""
    api_base, gateway = os.environ.get(API_BASE_VAR), os.environ.get(GATEWAY_VAR)
    if not api_base or not gateway:
        print(f"set {API_BASE_VAR} and {GATEWAY_VAR} (the Discord stand-in's REST base and gateway)", file=sys.stderr)
        return 2
    point_discord_py(api_base, gateway)
    from bot.__main__ import main as bot_main  # imported after patching, as a fresh process would

    return bot_main()


if __name__ == "__main__":
    sys.exit(main())
