"""The one-box stack: which processes `python -m mirage up` supervises, and how it knows the engine is ready.

Only the few settings the supervisor itself needs are read here (same `MIRAGE_` variables and `.env`
as the engine and the bot); every other setting reaches the children through the environment.
"""

from __future__ import annotations

import ipaddress
import os
import sys

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mirage.supervisor import ChildSpec, ReadyCheck

WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


class UpSettings(BaseSettings):
    """What `mirage up` reads: where the engine listens, and whether there is a bot to run."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8700
    discord_token: SecretStr | None = None
    engine_url: str | None = None

    @property
    def wants_bot(self) -> bool:
        """True when a Discord token is set (the bot itself refuses placeholders, with a clear message)."""
        return self.discord_token is not None and bool(self.discord_token.get_secret_value().strip())


def local_engine_url(host: str, port: int) -> str:
    """The URL this machine reaches an engine listening on `host:port` at (a wildcard means loopback)."""
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}"


def readyz_check(base_url: str, timeout_s: float = 2.0) -> ReadyCheck:
    """A readiness check: GET `base_url`/readyz answers 200 (else the body says what is still loading)."""

    async def check() -> tuple[bool, str]:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            try:
                response = await client.get(f"{base_url}/readyz")
            except httpx.HTTPError as exc:
                return False, f"{base_url}/readyz: {type(exc).__name__}"
        return response.status_code == 200, f"/readyz {response.status_code}: {response.text[:300]}"

    return check


def stack_specs(settings: UpSettings, python: str = sys.executable) -> list[ChildSpec]:
    """The engine, and the bot when a token is set; the bot starts once the engine's /readyz is 200."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # children print as they go, not when a buffer fills
    url = local_engine_url(settings.host, settings.port)
    engine = ChildSpec(
        name="engine",
        argv=[python, "-m", "engine", "serve", "--host", settings.host, "--port", str(settings.port)],
        env=env,
        ready=readyz_check(url),
    )
    if not settings.wants_bot:
        return [engine]
    bot_env = dict(env)
    bot_env.setdefault("MIRAGE_ENGINE_URL", settings.engine_url or url)
    return [engine, ChildSpec(name="bot", argv=[python, "-m", "bot"], env=bot_env, after="engine")]


HOW_TO_ADD_THE_BOT = (
    "no MIRAGE_DISCORD_TOKEN set: serving the engine only. To add the Discord bot, create it as the "
    "README's 'The Discord bot' section shows, then run again with MIRAGE_DISCORD_TOKEN=<token> "
    "(in the environment or .env); it starts as soon as the engine is ready."
)
