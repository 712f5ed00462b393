"""Bot settings: secrets only from the environment, placeholders refused, id lists from plain text."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import BotSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "MIRAGE_DISCORD_TOKEN",
        "MIRAGE_ENGINE_TOKEN",
        "MIRAGE_ENGINE_URL",
        "MIRAGE_ALLOWED_CHANNEL_IDS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MIRAGE_DISCORD_TOKEN", "MTIz.real.token")
    monkeypatch.setenv("MIRAGE_ENGINE_URL", "http://engine:8700/")
    monkeypatch.setenv("MIRAGE_ALLOWED_CHANNEL_IDS", "123, 456")
    monkeypatch.setenv("MIRAGE_ALLOWED_ROLE_IDS", "[789]")
    settings = BotSettings()
    assert settings.discord_token.get_secret_value() == "MTIz.real.token"
    assert settings.engine_url == "http://engine:8700"
    assert settings.allowed_channel_ids == [123, 456] and settings.allowed_role_ids == [789]
    assert "MTIz" not in repr(settings)


def test_a_missing_token_is_a_clear_error():
    with pytest.raises(ValidationError, match="discord_token"):
        BotSettings()


@pytest.mark.parametrize("placeholder", ["change-me", "TOKEN", " "])
def test_placeholder_tokens_are_refused(monkeypatch, placeholder):
    monkeypatch.setenv("MIRAGE_DISCORD_TOKEN", placeholder)
    with pytest.raises(ValidationError, match="MIRAGE_DISCORD_TOKEN is empty or a placeholder"):
        BotSettings()


def test_a_placeholder_engine_token_is_refused(monkeypatch):
    monkeypatch.setenv("MIRAGE_DISCORD_TOKEN", "MTIz.real.token")
    monkeypatch.setenv("MIRAGE_ENGINE_TOKEN", "changeme")
    with pytest.raises(ValidationError, match="MIRAGE_ENGINE_TOKEN is a placeholder"):
        BotSettings()


def test_an_engine_url_without_scheme_is_refused(monkeypatch):
    monkeypatch.setenv("MIRAGE_DISCORD_TOKEN", "MTIz.real.token")
    monkeypatch.setenv("MIRAGE_ENGINE_URL", "engine:8700")
    with pytest.raises(ValidationError, match="http"):
        BotSettings()


def test_python_m_bot_without_a_token_exits_with_a_clear_message(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "MIRAGE_DISCORD_TOKEN" in done.stderr and "Traceback" not in done.stderr
