"""`.env.example` documents every setting of both processes, and nothing that does not exist."""

import re
from pathlib import Path

from bot.config import BotSettings
from engine.config import EngineSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def documented() -> set[str]:
    return set(re.findall(r"^#? ?(MIRAGE_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.M))


def expected() -> set[str]:
    fields = {*EngineSettings.model_fields, *BotSettings.model_fields}
    return {f"MIRAGE_{name.upper()}" for name in fields}


def test_every_setting_is_documented_in_env_example():
    assert sorted(expected() - documented()) == []


def test_env_example_names_no_setting_that_does_not_exist():
    assert sorted(documented() - expected()) == []
