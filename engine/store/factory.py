"""One door to the atlas: the embedded store by default, a Qdrant server when a URL is set.

Every store the engine's commands create goes through here, so the index options chosen from
bench/store_search.py's curve (m, ef_construct, quantization, search effort) apply to both backends.
"""

from __future__ import annotations

from pathlib import Path

from engine.config import EngineSettings
from engine.store.base import AtlasStore, SearchParams


def search_params(settings: EngineSettings) -> SearchParams:
    """The engine's default search effort (defaults chosen from bench/store_search.py's curve)."""
    return SearchParams(
        hnsw_ef=settings.hnsw_ef,
        exact=settings.search_exact,
        rescore=True,
        oversampling=settings.oversampling,
    )


def open_server_store(settings: EngineSettings, url: str, *, collection: str, dim: int | None) -> AtlasStore:
    """The collection on the Qdrant server at `url`, created with the settings' index options when missing."""
    from engine.store.client import ClientStore

    return ClientStore.from_url(
        url,
        api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
        collection=collection,
        dim=dim,
        hnsw_m=settings.hnsw_m,
        ef_construct=settings.hnsw_ef_construct,
        quantization=settings.quantization,
        default_params=search_params(settings),
    )


def open_embedded_store(settings: EngineSettings, path: Path, dim: int) -> AtlasStore:
    """The embedded atlas at `path`, created with the settings' index options when missing."""
    from engine.store.edge import EdgeStore

    return EdgeStore.open_or_create(
        path,
        dim,
        hnsw_m=settings.hnsw_m,
        ef_construct=settings.hnsw_ef_construct,
        quantization=settings.quantization,
        default_params=search_params(settings),
    )


def open_store(settings: EngineSettings, dim: int, *, clip_model: str | None = None) -> AtlasStore:
    """The configured atlas for `dim`-d vectors: a Qdrant server when MIRAGE_QDRANT_URL is set,
    else the embedded store at `settings.atlas_dir` (created when missing).

    Raises ValueError when an existing atlas holds vectors of another size, and AtlasMismatchError
    (a ValueError) when `clip_model` is given and the atlas was filled by another CLIP model.
    """
    if clip_model is not None:
        from engine.store.provenance import AtlasProvenance, check_provenance

        check_provenance(settings, AtlasProvenance.of(clip_model, dim))
    if settings.qdrant_url:
        return open_server_store(settings, settings.qdrant_url, collection=settings.collection, dim=dim)
    return open_embedded_store(settings, settings.atlas_dir, dim)
