"""Engine settings: the tiny profile keeps its own data directory unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.config import EngineSettings


def _settings(**overrides) -> EngineSettings:
    return EngineSettings(_env_file=None, **overrides)


def test_the_tiny_profile_keeps_its_data_apart_from_the_real_atlas(monkeypatch):
    monkeypatch.delenv("MIRAGE_DATA_DIR", raising=False)
    real, tiny = _settings(), _settings(profile="tiny")
    assert real.atlas_dir == Path("data/atlas")
    assert tiny.atlas_dir == Path("data/tiny/atlas") and tiny.models_dir == Path("data/tiny/models")
    assert not tiny.atlas_dir.is_relative_to(real.atlas_dir)


def test_a_data_dir_that_was_asked_for_is_used_in_the_tiny_profile_too(monkeypatch, tmp_path):
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path))
    assert _settings(profile="tiny").data_dir == tmp_path
    monkeypatch.delenv("MIRAGE_DATA_DIR")
    assert _settings(profile="tiny", data_dir=tmp_path / "x").data_dir == tmp_path / "x"


def test_invalid_settings_are_described_in_one_line_naming_each_variable():
    from engine.config import describe_settings_error

    with pytest.raises(ValidationError) as caught:
        _settings(port="eighty", hnsw_ef=0)
    line = describe_settings_error(caught.value)
    assert "MIRAGE_PORT: " in line and "MIRAGE_HNSW_EF: " in line and "\n" not in line
    with pytest.raises(ValidationError) as caught:  # a rule over several fields names no single variable
        _settings(host="0.0.0.0", engine_token=None)
    assert describe_settings_error(caught.value).startswith("MIRAGE_ENGINE_TOKEN is unset")
