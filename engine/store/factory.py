"""One door to the atlas: the embedded store by default, a Qdrant server when a URL is set.

Every store the engine's commands create goes through here, so the index options chosen from
bench/store_search.py's curve (m, ef_construct, quantization, search effort) apply to both backends.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import EngineSettings
from engine.store.base import AtlasDimensionError, AtlasStore, SearchParams

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

logger = logging.getLogger(__name__)


def search_params(settings: EngineSettings) -> SearchParams:
    """The engine's default search effort (defaults chosen from bench/store_search.py's curve)."""
    return SearchParams(
        hnsw_ef=settings.hnsw_ef,
        exact=settings.search_exact,
        rescore=True,
        oversampling=settings.oversampling,
    )


def index_options(settings: EngineSettings) -> dict[str, Any]:
    """The settings' index options (HNSW build, quantization, search effort), as every store takes them."""
    return {
        "hnsw_m": settings.hnsw_m,
        "ef_construct": settings.hnsw_ef_construct,
        "quantization": settings.quantization,
        "default_params": search_params(settings),
    }


def open_server_store(settings: EngineSettings, url: str, *, collection: str, dim: int | None) -> AtlasStore:
    """The collection on the Qdrant server at `url`, created with the settings' index options when missing."""
    from engine.store.client import ClientStore

    return ClientStore.from_url(
        url,
        api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
        collection=collection,
        dim=dim,
        **index_options(settings),
    )


def open_server_version(
    settings: EngineSettings, client: QdrantClient, name: str, dim: int, *, shards: int, replicas: int
) -> AtlasStore:
    """The version collection `name` on the server `client` talks to, created with the settings' index
    options and the cluster layout (`shards`, `replicas`) when missing."""
    from engine.store.client import ClientStore

    return ClientStore(
        client,
        name,
        dim,
        **index_options(settings),
        shards=shards,
        replicas=replicas,
    )


def open_embedded_store(settings: EngineSettings, path: Path, dim: int) -> AtlasStore:
    """The embedded atlas at `path`, created with the settings' index options when missing.

    An atlas from before the provenance record moved into the store gets its sidecar record
    (`<path>/../atlas.clip.json`) moved in here, so every later check and copy sees it.
    """
    from engine.store.edge import EdgeStore
    from engine.store.provenance import adopt_legacy_sidecar

    store = EdgeStore.open_or_create(
        path,
        dim,
        **index_options(settings),
        image_storage=settings.image_storage,
    )
    try:
        adopt_legacy_sidecar(store, path)
    except BaseException:
        store.close()
        raise
    return store


class AtlasMissing(LookupError):
    """The Qdrant server has no collection or alias by the configured name: `engine index` creates it."""


NO_ATLAS = "no atlas: run `engine index`"  # what readiness and /v1/status say while it is missing


def open_configured_store(settings: EngineSettings, dim: int, *, create: bool = True) -> AtlasStore:
    """The configured atlas as it is: an existing one opened with its own vector size (which may
    differ from `dim`: check `store.dim`), a missing one created for `dim`-d vectors.

    With `create=False` (the serving engine) a missing collection on a Qdrant server raises
    AtlasMissing instead: an engine never creates a collection on a server, since `engine index` must
    create the versioned collection and the alias the engines read (a plain collection under the
    alias's name would block it). The embedded store and qdrant-client's in-process `:memory:` are
    this process's own and are still created.
    """
    if settings.qdrant_url:
        url, collection = settings.qdrant_url, settings.collection
        if not create and url != ":memory:":
            try:
                return open_server_store(settings, url, collection=collection, dim=None)
            except ValueError as error:
                # ClientStore's refusal to create without a vector size: the one way it says "missing"
                if "does not exist" not in str(error):
                    raise
                raise AtlasMissing(f"{NO_ATLAS} (no collection or alias {collection!r} on {url})") from None
        try:
            return open_server_store(settings, url, collection=collection, dim=dim)
        except AtlasDimensionError:
            return open_server_store(settings, url, collection=collection, dim=None)
    from engine.store.edge import stored_dim

    return open_embedded_store(settings, settings.atlas_dir, stored_dim(settings.atlas_dir) or dim)


def open_store(settings: EngineSettings, dim: int, *, clip_model: str | None = None) -> AtlasStore:
    """The configured atlas for `dim`-d vectors: a Qdrant server when MIRAGE_QDRANT_URL is set,
    else the embedded store at `settings.atlas_dir` (created when missing).

    Raises AtlasDimensionError when an existing atlas holds vectors of another size, and (when
    `clip_model` is given) AtlasMismatchError naming both models when the atlas records another
    CLIP model; both are ValueErrors, and the atlas is closed again untouched.
    """
    store = open_configured_store(settings, dim)
    try:
        if clip_model is not None:
            from engine.store.provenance import AtlasProvenance, check_provenance

            check_provenance(store, AtlasProvenance.of(clip_model, dim))
        if store.dim != dim:
            raise AtlasDimensionError(
                f"{store.location} holds {store.dim}-d vectors but the CLIP model gives {dim}-d: re-index, "
                "or point MIRAGE_DATA_DIR (MIRAGE_COLLECTION on a Qdrant server) elsewhere",
                stored=store.dim,
                wanted=dim,
            )
    except BaseException:
        store.close()
        raise
    return store


def rebuild_demo_store(settings: EngineSettings, store: AtlasStore, dim: int) -> AtlasStore:
    """Delete the embedded demo atlas `store` and return a new, empty one in its place.

    The one deletion the engine ever does: only files on this machine, and only an atlas whose own
    record marks it as the generated demo. A Qdrant server's collection is never deleted by the
    engine (replicas share it, and `engine migrate` or an operator may have put data there), nor is
    anything not marked as the demo: both raise PermissionError, and `store` is left open and as it
    was. On success `store` is closed and a new one returned.
    """
    from engine.store.edge import EdgeStore
    from engine.store.provenance import read_provenance

    recorded = read_provenance(store)
    refusal = None
    if recorded is None or not recorded.demo:
        refusal = f"refusing to delete {store.location}: it is not marked as the generated demo atlas"
    elif not isinstance(store, EdgeStore):
        refusal = (f"refusing to delete {store.location}: the engine never deletes a collection on a Qdrant "
                   "server; drop it yourself, or point MIRAGE_COLLECTION at another one")
    if refusal is not None or recorded is None or not isinstance(store, EdgeStore):
        raise PermissionError(refusal)
    logger.warning("rebuilding the demo atlas in %s (it was indexed with %s)", store.location, recorded.clip_model)
    path = store.path
    store.close()
    shutil.rmtree(path)
    return open_embedded_store(settings, path, dim)
