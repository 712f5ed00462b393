"""One door to the atlas: the embedded store by default, a Qdrant server when a URL is set."""

from __future__ import annotations

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


def open_store(settings: EngineSettings, dim: int) -> AtlasStore:
    """The configured atlas for `dim`-d vectors: a Qdrant server when MIRAGE_QDRANT_URL is set,
    else the embedded store at `settings.atlas_dir` (created when missing).

    Raises ValueError when an existing atlas holds vectors of another size.
    """
    params = search_params(settings)
    if settings.qdrant_url:
        from engine.store.client import ClientStore

        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ClientStore.from_url(
            settings.qdrant_url,
            api_key=api_key,
            collection=settings.collection,
            dim=dim,
            quantization=settings.quantization,
            default_params=params,
        )
    from engine.store.edge import EdgeStore

    return EdgeStore.open_or_create(
        settings.atlas_dir,
        dim,
        hnsw_m=settings.hnsw_m,
        ef_construct=settings.hnsw_ef_construct,
        quantization=settings.quantization,
        default_params=params,
    )
