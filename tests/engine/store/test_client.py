"""The qdrant-client store on its own (against qdrant-client's in-process :memory: mode)."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient

from engine.store.client import ClientStore

from .concurrency import search_while_writing
from .conftest import DIM, make_records


def test_an_existing_collection_is_reused_and_its_dim_read():
    client = QdrantClient(location=":memory:")
    ClientStore(client, "roco", DIM).upsert(make_records(20))
    again = ClientStore(client, "roco")
    assert again.dim == DIM
    assert again.count() == 20


def test_a_collection_of_another_dim_is_refused_with_advice():
    client = QdrantClient(location=":memory:")
    ClientStore(client, "roco", 768)
    with pytest.raises(ValueError, match="768-d vectors but the CLIP model gives 64-d.*MIRAGE_COLLECTION"):
        ClientStore(client, "roco", 64)


def test_a_missing_collection_needs_a_dim():
    with pytest.raises(ValueError, match="does not exist; pass dim"):
        ClientStore(QdrantClient(location=":memory:"), "roco")


def test_a_foreign_collection_is_not_taken_for_an_atlas():
    from qdrant_client import models

    client = QdrantClient(location=":memory:")
    client.create_collection(
        "other", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    with pytest.raises(ValueError, match="not a MIRAGE atlas"):
        ClientStore(client, "other", DIM)


def test_from_url_memory_gives_a_working_store():
    with ClientStore.from_url(":memory:", collection="roco", dim=DIM) as store:
        store.upsert(make_records(10))
        assert store.count() == 10


@pytest.mark.parametrize("url", ["", None])
def test_from_url_refuses_an_empty_url(url):
    with pytest.raises(ValueError, match="url"):
        ClientStore.from_url(url, collection="roco", dim=DIM)


def test_local_mode_is_safe_from_several_threads():
    """Without ClientStore's lock this fails (numpy shape mismatches inside qdrant-client's local mode)."""
    records = make_records(3000)
    store = ClientStore(QdrantClient(location=":memory:"), "roco", DIM)
    store.upsert(records[:400])
    errors = search_while_writing(store, records, stored=400, readers=3, stride=3, chunk=20)
    assert errors == []
    assert store.count() == 3000
