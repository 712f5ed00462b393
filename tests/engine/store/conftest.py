"""Fixtures for the atlas store tests: both backends, and small well-separated atlases."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from engine.store.base import AtlasPayload, AtlasRecord, AtlasStore
from engine.store.client import ClientStore
from engine.store.edge import EdgeStore

DIM = 32
MODALITIES = ("x-ray", "ct", "mri", "ultrasound")
SERVER_URL = "http://qdrant.test:6333"


def stand_in_server(monkeypatch) -> QdrantClient:
    """A Qdrant "server" at SERVER_URL for this test: every store opened on it (ClientStore.from_url)
    shares one in-memory client, so what one opening writes the next one reads."""
    shared = QdrantClient(location=":memory:")

    def from_url(url, *, api_key=None, collection, dim, **kwargs):
        assert url == SERVER_URL, url
        return ClientStore(shared, collection, dim, **kwargs)

    def connect(url, api_key, **kwargs):
        assert url == SERVER_URL, url
        return shared

    import engine.store.versioned

    monkeypatch.setattr(ClientStore, "from_url", staticmethod(from_url))
    monkeypatch.setattr(engine.store.versioned, "connect", connect)  # the versioned writers' door
    monkeypatch.setattr(shared, "close", lambda: None)  # closing a store must not stop the "server"
    return shared


def make_records(n: int, dim: int = DIM, seed: int = 0, with_images: bool = True) -> list[AtlasRecord]:
    """`n` random unit vectors (well separated in `dim` dimensions) with ROCO-like payloads."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        AtlasRecord(
            vector=vectors[i],
            payload=AtlasPayload(
                atlas_id=f"ROCO_{i:05d}",
                caption=f"figure {i}: a {MODALITIES[i % len(MODALITIES)]} of the chest",
                pmc_id=f"PMC{1000 + i}",
                licence="CC BY",
                split="train" if i % 5 else "validation",
                modality=MODALITIES[i % len(MODALITIES)],
                keywords=["chest", f"kw{i % 7}"],
                image_path=f"images/ROCO_{i:05d}.jpg",
                image_jpeg_b64=base64.b64encode(fake_jpeg(i)).decode() if with_images and i % 3 else None,
            ),
        )
        for i in range(n)
    ]


def fake_jpeg(i: int) -> bytes:
    """Distinct bytes per point, with the JPEG magic numbers, standing in for a downsized image."""
    return b"\xff\xd8\xff\xe0" + f"image {i}".encode() * 10 + b"\xff\xd9"


def make_edge(path: Path, dim: int = DIM, **kwargs) -> EdgeStore:
    """A new embedded store under `path`."""
    return EdgeStore.create(path, dim, **kwargs)


def make_client(dim: int = DIM, collection: str = "roco") -> ClientStore:
    """A new ClientStore on qdrant-client's in-memory mode."""
    return ClientStore(QdrantClient(location=":memory:"), collection, dim)


@pytest.fixture
def records() -> list[AtlasRecord]:
    """300 well-separated 32-d points with payloads, two thirds with images."""
    return make_records(300)


@pytest.fixture(params=["edge", "client"])
def store(request, tmp_path: Path) -> Iterator[AtlasStore]:
    """An empty store of each backend."""
    s = make_edge(tmp_path / "atlas") if request.param == "edge" else make_client()
    yield s
    s.close()


@pytest.fixture
def both(tmp_path: Path, records: list[AtlasRecord]) -> Iterator[tuple[EdgeStore, ClientStore]]:
    """An EdgeStore and a ClientStore holding the same `records`."""
    edge, client = make_edge(tmp_path / "atlas"), make_client()
    for s in (edge, client):
        s.upsert(records)
        s.optimize()
    yield edge, client
    edge.close()
    client.close()
