"""Start-up against a stand-in for Discord's REST API: login, command sync to the dev guild, buttons."""

from __future__ import annotations

import json
from typing import Any

import discord
import pytest
from aiohttp import web

from bot.client import MirageBot
from bot.ui.buttons import PERSISTENT_ITEMS
from bot.ui.quiz_buttons import PERSISTENT_ITEMS as QUIZ_ITEMS
from bot.ui.quiz_report_buttons import REPORT_ITEMS
from bot.ui.set_buttons import PERSISTENT_ITEMS as SET_ITEMS
from bot.ui.teach_buttons import PERSISTENT_ITEMS as TEACH_ITEMS

from .conftest import bot_settings

APP_ID, GUILD_ID = 4242, 777
USER = {"id": str(APP_ID), "username": "mirage", "discriminator": "0", "avatar": None, "bot": True}


def as_json(data: Any) -> web.Response:
    # discord.py reads a body as JSON only when the content type is exactly application/json
    return web.Response(body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})


@pytest.fixture
async def discord_standin():
    """Just enough of Discord's REST API for `login` and `tree.sync`; records the synced commands."""
    synced: dict[str, Any] = {}

    async def me(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bot test.discord.token"
        return as_json(USER)

    async def app(request: web.Request) -> web.Response:
        return as_json(
            {
                "id": str(APP_ID),
                "name": "MIRAGE",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": USER,
                "verify_key": "00",
                "flags": 0,
            }
        )

    async def sync(request: web.Request) -> web.Response:
        commands = await request.json()
        synced[request.path] = commands
        return as_json(
            [
                {**c, "id": str(i + 1), "application_id": str(APP_ID), "version": "1"}
                for i, c in enumerate(commands)
            ]
        )

    async def gateway(request: web.Request) -> web.Response:
        return as_json({"url": "ws://127.0.0.1:9/gateway"})

    application = web.Application()
    application.router.add_get("/api/v10/gateway", gateway)
    application.router.add_get("/api/v10/users/@me", me)
    application.router.add_get("/api/v10/oauth2/applications/@me", app)
    application.router.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", sync)
    application.router.add_put("/api/v10/applications/{app}/commands", sync)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/api/v10", synced
    await runner.cleanup()


async def test_login_syncs_the_mirage_group_to_the_dev_guild_and_registers_buttons(
    discord_standin, monkeypatch, tmp_path
):
    base, synced = discord_standin
    monkeypatch.setattr(discord.http.Route, "BASE", base)  # restored after the test
    settings = bot_settings("http://127.0.0.1:8700", dev_guild_id=GUILD_ID, data_dir=tmp_path)
    bot = MirageBot(settings)
    try:
        await bot.login(settings.discord_token.get_secret_value())

        ((path, commands),) = synced.items()
        assert path == f"/api/v10/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
        (mirage,) = commands
        assert mirage["name"] == "mirage"
        assert [o["name"] for o in mirage["options"]] == [
            "search", "compare", "generate", "ask", "help", "set", "quiz", "review", "progress", "scores", "forget-me",
            "reports",
        ]
        assert bot.intents.value == discord.Intents(guilds=True, guild_messages=True).value  # nothing privileged
        patterns = set(bot._connection._view_store._dynamic_items)
        items = (*PERSISTENT_ITEMS, *QUIZ_ITEMS, *TEACH_ITEMS, *REPORT_ITEMS, *SET_ITEMS)
        assert patterns == {item.__discord_ui_compiled_template__ for item in items}
        assert str(bot.engine_http.base_url) == "http://127.0.0.1:8700"
    finally:
        await bot.close()
    assert bot.engine_http.is_closed


async def test_without_a_dev_guild_commands_are_synced_globally(discord_standin, monkeypatch, tmp_path):
    base, synced = discord_standin
    monkeypatch.setattr(discord.http.Route, "BASE", base)
    settings = bot_settings("http://127.0.0.1:8700", data_dir=tmp_path)
    bot = MirageBot(settings)
    try:
        await bot.login(settings.discord_token.get_secret_value())
        assert list(synced) == [f"/api/v10/applications/{APP_ID}/commands"]
    finally:
        await bot.close()


def test_the_production_client_knows_no_discord_stand_in():
    """Pointing discord.py elsewhere is the e2e launcher's business (tests/e2e/launch_bot.py), not the bot's."""
    from pathlib import Path

    import bot
    from bot.config import BotSettings

    assert not any("api_base" in name or "gateway" in name for name in BotSettings.model_fields)
    sources = "\n".join(p.read_text() for p in Path(bot.__file__).parent.rglob("*.py"))
    assert "Route.BASE" not in sources and "DEFAULT_GATEWAY" not in sources


def test_the_bot_imports_no_model_code():
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys, bot.__main__; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'transformers', 'diffusers')"
        " or (m.startswith('engine.') and m != 'engine.contract')]; print(bad)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
