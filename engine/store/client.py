"""The server atlas store: a Qdrant server or cluster through qdrant-client.

Also runs against qdrant-client's in-process `:memory:` mode, which speaks the same client API
(that is how it is tested; no server can be installed on the build machines). That local mode
keeps plain Python dicts, so calls into it are serialised here; a remote client is left
concurrent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from qdrant_client import QdrantClient, models

from engine.store.base import (
    IMAGE_KEY,
    META_KEY,
    META_POINT_ID,
    SOURCE_KEY,
    VECTOR_NAME,
    AtlasDimensionError,
    AtlasRecord,
    AtlasStore,
    SearchParams,
    StoredHit,
    point_id,
)
from engine.store.points import (
    ID_CHUNK,
    check_k,
    check_new_atlas,
    check_query_vector,
    check_records,
    chunks,
    decode_image,
    hit_from_point,
    ids_by_point,
    record_from_point,
    vector_of,
)

log = logging.getLogger(__name__)

INDEXED_FIELDS = ("modality", "atlas_id")
UPSERT_CHUNK = 256  # points per request: keeps each HTTP body a few MB even with images


class ClientStore(AtlasStore):
    """AtlasStore on one collection of a Qdrant server (or qdrant-client's local mode)."""

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        dim: int | None = None,
        *,
        hnsw_m: int = 16,
        ef_construct: int = 100,
        quantization: Literal["none", "int8", "binary2"] = "none",
        default_params: SearchParams | None = None,
        shards: int | None = None,
        replicas: int | None = None,
    ) -> None:
        """Use `collection` (a collection or an alias), creating it (and its payload indexes) when missing.

        `dim` is required to create a collection; for an existing one it is read from the
        server and, when given, must match (ValueError otherwise). `shards` and `replicas` apply
        to a new collection on a cluster (None: the server's default).
        """
        if not collection:
            raise ValueError("collection: must be a non-empty name")
        self.client = client
        self.collection = collection
        self.location = f"collection {collection!r}"
        self.default_params = default_params or SearchParams()
        self._local = _is_local(client)
        self._lock: contextlib.AbstractContextManager = (
            threading.RLock() if self._local else contextlib.nullcontext()
        )
        with self._lock:
            if client.collection_exists(collection):
                self.dim = self._check_existing_dim(dim)
            else:
                if dim is None:
                    raise ValueError(f"collection {collection!r} does not exist; pass dim to create it")
                self.dim = self._create(dim, hnsw_m, ef_construct, quantization, shards, replicas)
            self._ensure_payload_indexes()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        api_key: str | None = None,
        collection: str,
        dim: int | None,
        default_params: SearchParams | None = None,
        hnsw_m: int = 16,
        ef_construct: int = 100,
        quantization: Literal["none", "int8", "binary2"] = "none",
    ) -> ClientStore:
        """A store on the Qdrant server at `url` (e.g. http://qdrant:6333); `:memory:` gives an
        in-process throwaway store (tests, demos)."""
        if not url:
            raise ValueError("url: must be a Qdrant server URL such as http://localhost:6333")
        client = (
            QdrantClient(location=":memory:") if url == ":memory:" else QdrantClient(url=url, api_key=api_key)
        )
        return cls(
            client,
            collection,
            dim,
            hnsw_m=hnsw_m,
            ef_construct=ef_construct,
            quantization=quantization,
            default_params=default_params,
        )

    # ---- writing -------------------------------------------------------------------------

    def upsert(self, records: Sequence[AtlasRecord]) -> None:
        """Insert or replace points; the point id is derived from `payload.atlas_id`."""
        rows = check_records(records, self.dim)
        for start in range(0, len(records), UPSERT_CHUNK):
            points = [
                models.PointStruct(
                    id=point_id(rec.payload.atlas_id),
                    vector={VECTOR_NAME: rows[start + i].tolist()},
                    payload=rec.payload.to_dict(),
                )
                for i, rec in enumerate(records[start : start + UPSERT_CHUNK])
            ]
            with self._lock:
                self.client.upsert(self.collection, points=points, wait=True)

    def optimize(self) -> None:
        """A no-op: a Qdrant server builds its indexes in the background."""

    def close(self) -> None:
        """Close the client's connections."""
        with self._lock:
            self.client.close()

    # ---- reading -------------------------------------------------------------------------

    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        modality: str | None = None,
        params: SearchParams | None = None,
        with_vectors: bool = False,
    ) -> list[StoredHit]:
        """Top-k by cosine, best first, without the image payload."""
        query = check_query_vector(vector, self.dim)
        limit = check_k(k)
        p = params or self.default_params
        with self._lock:
            response = self.client.query_points(
                self.collection,
                query=query,
                using=VECTOR_NAME,
                query_filter=_modality_filter(modality),
                # local mode always scans exactly and warns that search params have no effect
                search_params=None if self._local else _search_params(p),
                limit=limit,
                with_payload=models.PayloadSelectorExclude(exclude=[IMAGE_KEY]),
                with_vectors=[VECTOR_NAME] if with_vectors else False,
            )
        return [
            hit_from_point(sp.payload, sp.score, vector_of(sp.vector) if with_vectors else None)
            for sp in response.points
        ]

    def retrieve(self, atlas_ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredHit]:
        """The points with these atlas ids, in the order asked, missing ones left out; score 1.0."""
        wanted = ids_by_point(atlas_ids)
        found: dict[str, StoredHit] = {}
        for part in chunks(list(wanted), ID_CHUNK):
            with self._lock:
                records = self.client.retrieve(
                    self.collection,
                    ids=list(part),
                    with_payload=models.PayloadSelectorExclude(exclude=[IMAGE_KEY]),
                    with_vectors=[VECTOR_NAME] if with_vectors else False,
                )
            for rec in records:
                hit = hit_from_point(rec.payload, 1.0, vector_of(rec.vector) if with_vectors else None)
                found[hit.atlas_id] = hit
        return [found[a] for a in wanted.values() if a in found]

    def image(self, atlas_id: str) -> bytes | None:
        """The stored JPEG bytes of one point, or None (unknown id or no image)."""
        with self._lock:
            records = self.client.retrieve(
                self.collection,
                ids=[point_id(atlas_id)],
                with_payload=models.PayloadSelectorInclude(include=[IMAGE_KEY, "atlas_id"]),
                with_vectors=False,
            )
        return decode_image(records[0].payload) if records else None

    def existing_sources(self, atlas_ids: Sequence[str]) -> dict[str, str | None]:
        """The stored ones of these atlas ids, each with its collection (None where the payload has none)."""
        wanted = ids_by_point(atlas_ids)
        present: dict[str, str | None] = {}
        for part in chunks(list(wanted), ID_CHUNK):
            with self._lock:
                records = self.client.retrieve(
                    self.collection, ids=list(part),
                    with_payload=models.PayloadSelectorInclude(include=[SOURCE_KEY]), with_vectors=False,
                )
            present.update({wanted[str(rec.id)]: (rec.payload or {}).get(SOURCE_KEY) or None for rec in records})
        return present

    def count(self, *, modality: str | None = None) -> int:
        """Exact number of atlas images, optionally of one modality (the reserved record left out)."""
        with self._lock:
            return self.client.count(self.collection, count_filter=_images_filter(modality), exact=True).count

    def scroll(self, batch_size: int = 256, *, with_images: bool = True) -> Iterator[list[AtlasRecord]]:
        """Every point with vector and full payload, in batches of `batch_size` (point-id order)."""
        if batch_size < 1:
            raise ValueError(f"batch_size: must be positive, got {batch_size}")
        offset = None
        while True:
            with self._lock:
                records, offset = self.client.scroll(
                    self.collection,
                    limit=batch_size,
                    offset=offset,
                    with_payload=True if with_images else models.PayloadSelectorExclude(exclude=[IMAGE_KEY]),
                    with_vectors=[VECTOR_NAME],
                )
            batch = [record_from_point(r.payload, vector_of(r.vector)) for r in records if str(r.id) != META_POINT_ID]
            if batch:
                yield batch
            if offset is None:
                return

    def read_meta(self) -> dict[str, Any] | None:
        """The atlas's own record, or None."""
        with self._lock:
            return read_collection_meta(self.client, self.collection)

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace the atlas's own record (a point without a vector, so search never meets it)."""
        point = models.PointStruct(id=META_POINT_ID, vector={}, payload={META_KEY: dict(meta)})
        with self._lock:
            self.client.upsert(self.collection, points=[point], wait=True)

    # ---- helpers -------------------------------------------------------------------------

    def _create(
        self, dim: int, hnsw_m: int, ef_construct: int, quantization: str, shards: int | None, replicas: int | None
    ) -> int:
        check_new_atlas(dim, quantization)
        quant: models.ScalarQuantization | models.BinaryQuantization | None = None
        if quantization == "int8":
            quant = models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
            )
        elif quantization == "binary2":
            quant = models.BinaryQuantization(
                binary=models.BinaryQuantizationConfig(
                    always_ram=True, encoding=models.BinaryQuantizationEncoding.TWO_BITS
                )
            )
        self.client.create_collection(
            self.collection,
            # with int8 in RAM the float32 originals are read only to rescore a few candidates: on disk (mmap),
            # so a node's RAM holds ~1 KB per point instead of ~4 KB (bench/README.md, "The atlas at 1.6M")
            vectors_config={VECTOR_NAME: models.VectorParams(size=dim, distance=models.Distance.COSINE,
                                                             on_disk=quantization != "none" or None)},
            hnsw_config=models.HnswConfigDiff(m=hnsw_m, ef_construct=ef_construct),
            quantization_config=quant,
            on_disk_payload=True,  # images travel in the payload; keep them out of RAM
            shard_number=shards,
            replication_factor=replicas,
        )
        log.info("created collection %r (%d-d, %s)", self.collection, dim, quantization)
        return dim

    def _check_existing_dim(self, dim: int | None) -> int:
        vectors = self.client.get_collection(self.collection).config.params.vectors
        if not isinstance(vectors, dict) or VECTOR_NAME not in vectors:
            raise ValueError(
                f"collection {self.collection!r} has no '{VECTOR_NAME}' vector; not a MIRAGE atlas"
            )
        stored = vectors[VECTOR_NAME].size
        if dim is not None and stored != dim:
            raise AtlasDimensionError(
                f"collection {self.collection!r} holds {stored}-d vectors but the CLIP model gives {dim}-d: "
                "re-index into a new collection (MIRAGE_COLLECTION)",
                stored=stored,
                wanted=dim,
            )
        return stored

    def _ensure_payload_indexes(self) -> None:
        """Keyword indexes on modality and atlas_id, so filters are exact and cheap on a server."""
        schema = self.client.get_collection(self.collection).payload_schema or {}
        with warnings.catch_warnings():
            # local mode scans instead of indexing and warns that the index has no effect
            warnings.filterwarnings("ignore", message="Payload indexes have no effect", category=UserWarning)
            for name in INDEXED_FIELDS:
                if name not in schema:
                    self.client.create_payload_index(
                        self.collection,
                        field_name=name,
                        field_schema=models.PayloadSchemaType.KEYWORD,
                        wait=True,
                    )


def read_collection_meta(client: QdrantClient, collection: str) -> dict[str, Any] | None:
    """The atlas record kept in `collection` (the reserved point META_POINT_ID), or None."""
    records = client.retrieve(collection, ids=[META_POINT_ID], with_payload=True, with_vectors=False)
    meta = (records[0].payload or {}).get(META_KEY) if records else None
    return dict(meta) if meta else None


def _is_local(client: QdrantClient) -> bool:
    """True for qdrant-client's in-process mode (`:memory:` or `path=`), which is not thread-safe."""
    from qdrant_client.local.qdrant_local import QdrantLocal

    return isinstance(getattr(client, "_client", None), QdrantLocal)


def _search_params(p: SearchParams) -> models.SearchParams:
    return models.SearchParams(
        hnsw_ef=p.hnsw_ef,
        exact=p.exact,
        quantization=models.QuantizationSearchParams(rescore=p.rescore, oversampling=p.oversampling),
    )


def _modality_filter(modality: str | None) -> models.Filter | None:
    if modality is None:
        return None
    return models.Filter(
        must=[models.FieldCondition(key="modality", match=models.MatchValue(value=modality))]
    )


def _images_filter(modality: str | None) -> models.Filter:
    """Every atlas image (of `modality`), without the reserved record."""
    must: list[Any] | None = (
        [models.FieldCondition(key="modality", match=models.MatchValue(value=modality))]
        if modality is not None
        else None
    )
    return models.Filter(must=must, must_not=[models.HasIdCondition(has_id=[META_POINT_ID])])

