"""Fixtures for atlas ingestion: generated sources with bad rows, and both real store backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import get_settings
from tests.engine.atlas.fixtures import Expected, write_parquet_tree, write_roco_tree


@pytest.fixture(scope="session")
def roco_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    """A generated ROCO-layout tree (read-only for tests) and what ingesting it must report."""
    root = tmp_path_factory.mktemp("roco")
    return root, write_roco_tree(root)


@pytest.fixture(scope="session")
def parquet_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    """A generated parquet mirror (two train files, one validation file) and what ingesting it must report."""
    root = tmp_path_factory.mktemp("parquet")
    return root, write_parquet_tree(root)


def make_store(kind: str, path: Path, dim: int):
    """A real, empty store: the embedded EdgeStore on disk, or ClientStore on qdrant-client's :memory:."""
    if kind == "edge":
        from engine.store.edge import EdgeStore

        return EdgeStore.create(path / "atlas", dim)
    from qdrant_client import QdrantClient

    from engine.store.client import ClientStore

    return ClientStore(QdrantClient(":memory:"), "roco", dim)


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clip_encoder):
    """Each real backend in turn, sized for the tiny CLIP."""
    s = make_store(request.param, tmp_path, clip_encoder.dim)
    yield s
    s.close()


@pytest.fixture
def edge_store(tmp_path: Path, clip_encoder):
    """The embedded store only (for tests that need not run twice)."""
    s = make_store("edge", tmp_path, clip_encoder.dim)
    yield s
    s.close()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_paths):
    """Settings pointing at a fresh data dir and the tiny CLIP on CPU (the LLM and diffusion are not needed)."""
    monkeypatch.setenv("MIRAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MIRAGE_CLIP_MODEL", str(tiny_paths.clip))
    monkeypatch.setenv("MIRAGE_DEVICE", "cpu")
    monkeypatch.delenv("MIRAGE_QDRANT_URL", raising=False)
    monkeypatch.delenv("MIRAGE_PROFILE", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()
