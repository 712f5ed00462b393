"""Bot settings: one typed object, read from the environment (`MIRAGE_` prefix) and `.env`.

Secrets (the Discord token, the engine token) come only from the environment; placeholders are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "token", "xxx", "your-token-here", "none"}

IdList = Annotated[list[int], NoDecode]


class BotSettings(BaseSettings):
    """Everything the bot process can be told."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_", env_file=".env", extra="ignore")

    # who we are and where the engine lives
    discord_token: SecretStr
    engine_url: str = "http://127.0.0.1:8700"
    engine_token: SecretStr | None = None
    dev_guild_id: int | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # who may use the bot where (empty = everyone, everywhere)
    allowed_channel_ids: IdList = Field(default_factory=list)
    allowed_role_ids: IdList = Field(default_factory=list)
    # study sets (/mirage set): who may build them besides members with Manage Messages
    set_editor_roles: IdList = Field(default_factory=list)

    # fairness
    user_open_jobs_max: int = Field(default=2, ge=1)
    user_cooldown_s: float = Field(default=5.0, ge=0)
    engine_max_concurrent: int = Field(default=2, ge=1)  # until the engine's /readyz says its capacity
    engine_capacity_refresh_s: float = Field(default=60.0, ge=0)  # ask again this often; 0: never ask
    bot_metrics_port: int | None = Field(default=None, ge=1, le=65535)  # Prometheus /metrics; unset: off
    # on SIGTERM: how long the open jobs get to tell their users they were stopped, before the bot closes
    bot_drain_grace_s: float = Field(default=10.0, ge=0, le=300)

    # talking to the engine
    engine_connect_timeout_s: float = Field(default=5.0, gt=0)
    engine_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest wait for any engine answer or event."
    )
    job_timeout_s: float = Field(
        default=600.0, gt=0, description="Longest a whole job may take, images included."
    )
    engine_retries: int = Field(
        default=3, ge=0, description="Retries on 429/503/unreachable before giving up."
    )
    engine_retry_base_s: float = Field(default=1.0, ge=0)
    engine_retry_max_s: float = Field(default=30.0, ge=0)

    # Discord etiquette: message edits for progress no more often than this
    progress_interval_s: float = Field(default=1.5, ge=0)
    # Discord's REST budget (bot/ratelimit.py): requests per second the bot allows itself (Discord's global
    # limit is 50; interaction callbacks are exempt), and the most of it progress edits may use
    discord_rest_per_s: float = Field(default=45.0, gt=0, le=50)
    progress_rest_share: float = Field(default=0.2, gt=0, le=1)
    # connections to Discord's REST API at most (0: no limit, discord.py's own default). A bounded pool
    # makes calls the REST budget spaced out wait for a connection and reach Discord bunched (global 429s
    # in the fifty-student e2e), so the default stays unbounded; bench/README.md "A thousand at once"
    discord_connections: int = Field(default=0, ge=0, le=1000)

    # quizzes: a question is revealed when everyone playing has answered, or after this many seconds
    quiz_reveal_s: float = Field(default=45.0, ge=5, le=600)
    # review (/mirage review): at most this many cards new to review are started per UTC day (as Anki);
    # a right answer within review_fast_s seconds rates Easy, after review_slow_s (or with hints) Hard
    review_new_per_day: int = Field(default=20, ge=0, le=1000)
    review_fast_s: float = Field(default=8.0, ge=0, le=600)
    review_slow_s: float = Field(default=30.0, gt=0, le=3600)

    # the bot's database (threads, jobs, follow-ups, quizzes, cards, scores): bot/store
    data_dir: Path = Path("data")
    database_url: SecretStr | None = Field(
        default=None,  # a secret: the URL may carry a password
        description="postgresql+asyncpg://… or sqlite+aiosqlite:///…; empty = <data_dir>/bot.sqlite3.",
    )
    # privacy: typed texts (follow-up turns, jobs' requests, answer threads' queries) older than this are
    # deleted every few hours (bot/flows/retention.py); 0 keeps them until /mirage forget-me
    retention_days: int = Field(default=180, ge=0, le=36500)

    @field_validator("allowed_channel_ids", "allowed_role_ids", "set_editor_roles", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        """Accept `123,456`, `123 456` or a JSON-ish list from the environment."""
        if isinstance(value, str):
            parts = value.replace(",", " ").replace("[", " ").replace("]", " ").split()
            return [int(p) for p in parts]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("discord_token")
    @classmethod
    def _refuse_placeholder_token(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "MIRAGE_DISCORD_TOKEN is empty or a placeholder; set the bot token from the Developer Portal"
            )
        return value

    @field_validator("engine_token")
    @classmethod
    def _refuse_placeholder_engine_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS - {""}:
            raise ValueError("MIRAGE_ENGINE_TOKEN is a placeholder; set the engine's real secret")
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("MIRAGE_DATABASE_URL must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return SecretStr(url)

    @field_validator("engine_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")
