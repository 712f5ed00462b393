"""open_store: the embedded atlas by default, a Qdrant server when MIRAGE_QDRANT_URL is set."""

from __future__ import annotations

import pytest

from engine.config import EngineSettings
from engine.store.client import ClientStore
from engine.store.edge import EdgeStore
from engine.store.factory import open_store, search_params

from .conftest import DIM, make_records


def test_the_default_is_the_embedded_store_under_the_data_dir(tmp_path):
    settings = EngineSettings(data_dir=tmp_path)
    with open_store(settings, DIM) as store:
        assert isinstance(store, EdgeStore)
        assert store.path == settings.atlas_dir
        store.upsert(make_records(5))
    with open_store(settings, DIM) as again:
        assert again.count() == 5


def test_search_defaults_come_from_the_settings(tmp_path):
    settings = EngineSettings(data_dir=tmp_path, hnsw_ef=300, search_exact=True, oversampling=3.0)
    with open_store(settings, DIM) as store:
        p = store.default_params
        assert (p.hnsw_ef, p.exact, p.oversampling, p.rescore) == (300, True, 3.0, True)
    assert search_params(settings) == p


@pytest.mark.parametrize(("quantization", "kind"), [("int8", "scalar"), ("binary2", "binary")])
def test_quantization_setting_reaches_the_new_atlas(tmp_path, quantization, kind):
    import json

    settings = EngineSettings(data_dir=tmp_path, quantization=quantization)
    open_store(settings, DIM).close()
    config = json.loads((settings.atlas_dir / "edge_config.json").read_text())
    assert kind in config["vectors"]["clip"]["quantization_config"]


def test_a_dimension_change_is_refused_with_advice(tmp_path):
    settings = EngineSettings(data_dir=tmp_path)
    open_store(settings, 64).close()
    with pytest.raises(ValueError, match="64-d vectors but the CLIP model gives 768-d"):
        open_store(settings, 768)


def test_a_qdrant_url_gives_the_client_store(tmp_path):
    settings = EngineSettings(data_dir=tmp_path, qdrant_url=":memory:", collection="atlas-x", hnsw_ef=77)
    with open_store(settings, DIM) as store:
        assert isinstance(store, ClientStore)
        assert store.collection == "atlas-x" and store.dim == DIM
        assert store.default_params.hnsw_ef == 77
    assert not settings.atlas_dir.exists()


def test_the_serving_engine_never_creates_a_collection_on_a_server(tmp_path, monkeypatch):
    """`engine index` must create the versioned collection and the alias; a plain collection under the
    alias's name, created by a serving engine that found none, would block it."""
    from engine.store.factory import AtlasMissing, open_configured_store

    from .conftest import SERVER_URL, stand_in_server

    server = stand_in_server(monkeypatch)
    settings = EngineSettings(_env_file=None, data_dir=tmp_path, qdrant_url=SERVER_URL, collection="roco")
    with pytest.raises(AtlasMissing, match=r"no atlas: run `engine index` \(no collection or alias 'roco' on "):
        open_configured_store(settings, DIM, create=False)
    assert server.get_collections().collections == []
    with open_store(settings, DIM) as created:  # what `engine migrate` and tests do: creating is theirs to ask
        created.upsert(make_records(2))
    with open_configured_store(settings, DIM, create=False) as found:
        assert found.count() == 2 and found.dim == DIM
