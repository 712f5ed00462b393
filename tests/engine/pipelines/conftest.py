"""The real tiny models plus a real embedded atlas (EdgeStore) holding the demo atlas."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, demo_atlas_dir, clip_encoder):
    """An EdgeStore on local disk with every demo image indexed through the real ingestion."""
    from engine.atlas.ingest import index_roco_layout
    from engine.store.edge import EdgeStore

    store = EdgeStore.open_or_create(tmp_path_factory.mktemp("atlas"), clip_encoder.dim)
    index_roco_layout(demo_atlas_dir, store, clip_encoder, progress=False)
    yield store
    store.close()


@pytest.fixture(scope="session")
def demo_captions(demo_atlas_dir) -> dict[str, str]:
    """atlas id → caption of every demo image."""
    from engine.tiny.demo_atlas import demo_pairs

    return {roco_id: caption for roco_id, caption, _ in demo_pairs(demo_atlas_dir)}
