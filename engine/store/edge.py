"""The embedded atlas store: Qdrant's own engine in-process (qdrant-edge-py), data on local disk.

Thread-safety (measured with qdrant-edge-py 0.9.0): the binding is safe to call from several
threads at once; queries release the GIL, and upserts running alongside queries give correct
results. `optimize()` however HOLDS THE GIL for its whole run (tens of seconds to minutes at
81k x 768): every Python thread of the process, an asyncio event loop included, stops meanwhile.
Call it from the indexing command, not inside a serving engine. Closing is guarded here so a
closed store answers with a clear error instead of the binding's "Shard is not initialized".
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from qdrant_edge import (
    BinaryQuantizationConfig,
    BinaryQuantizationEncoding,
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    HasIdCondition,
    HnswIndexConfig,
    MatchValue,
    Memory,
    PayloadSchemaType,
    PayloadSelector,
    Point,
    Query,
    QueryRequest,
    ScalarQuantizationConfig,
    ScalarType,
    ScrollRequest,
    UpdateOperation,
)
from qdrant_edge import QuantizationSearchParams as EdgeQuantizationParams
from qdrant_edge import SearchParams as EdgeSearchParams

from engine.store.base import (
    IMAGE_KEY,
    IMAGE_REF_KEY,
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
from engine.store.images import IMAGES_DIR, PackImageStore
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

CONFIG_FILE = "edge_config.json"  # written by qdrant-edge next to the segments
INDEXED_FIELDS = ("modality", "atlas_id")
# Qdrant's default: below this many KB of vectors a (filtered) search scans instead of walking HNSW.
FULL_SCAN_THRESHOLD_KB = 10_000
UPSERT_CHUNK = 512
Quantization = Literal["none", "int8", "binary2"]
ImageStorage = Literal["payload", "pack"]


class EdgeStore(AtlasStore):
    """AtlasStore on an in-process Qdrant Edge shard in a local directory."""

    def __init__(self, shard: EdgeShard, path: Path, dim: int, default_params: SearchParams | None) -> None:
        """Wrap an open shard; use `create`, `open` or `open_or_create` instead."""
        self._shard: EdgeShard | None = shard
        self._close_lock = threading.Lock()
        self.path = path
        self.location = str(path)
        self.dim = dim
        self.default_params = default_params or SearchParams()
        # An atlas created with image_storage="pack" has an images/ folder; older ones keep JPEGs in the payload.
        self.images = PackImageStore(path / IMAGES_DIR) if (path / IMAGES_DIR).is_dir() else None
        self._ensure_payload_indexes()

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        dim: int,
        *,
        hnsw_m: int = 16,
        ef_construct: int = 100,
        quantization: Quantization = "none",
        default_params: SearchParams | None = None,
        vectors_on_disk: bool = False,
        image_storage: ImageStorage = "payload",
    ) -> EdgeStore:
        """A new, empty atlas at `path` for `dim`-d unit vectors (cosine).

        `vectors_on_disk` keeps the float32 originals in a memory map that is read on demand (Cold)
        instead of cached in RAM; with int8 the graph walk reads only the in-RAM int8 copy and the
        originals are read for rescoring alone (bench/README.md, "The atlas at 1.6M").
        `image_storage="pack"` keeps each point's JPEG in pack files under `path/images/` and only
        a reference in its payload (engine/store/images.py); "payload" keeps the JPEG in the payload."""
        path = Path(path)
        check_new_atlas(dim, quantization)
        if image_storage not in ("payload", "pack"):
            raise ValueError(f"image_storage: must be 'payload' or 'pack', got {image_storage!r}")
        if (path / CONFIG_FILE).exists():
            raise FileExistsError(f"an atlas already exists at {path}; open it instead")
        quant: ScalarQuantizationConfig | BinaryQuantizationConfig | None = None
        if quantization == "int8":
            quant = ScalarQuantizationConfig(type=ScalarType.Int8, quantile=0.99, always_ram=True)
        elif quantization == "binary2":
            quant = BinaryQuantizationConfig(always_ram=True, encoding=BinaryQuantizationEncoding.TwoBits)
        config = EdgeConfig(
            vectors={
                VECTOR_NAME: EdgeVectorParams(
                    size=dim,
                    distance=Distance.Cosine,
                    quantization_config=quant,
                    memory=Memory.Cold if vectors_on_disk else None,
                )
            },
            hnsw_config=HnswIndexConfig(
                m=hnsw_m, ef_construct=ef_construct, full_scan_threshold=FULL_SCAN_THRESHOLD_KB
            ),
        )
        path.mkdir(parents=True, exist_ok=True)
        if image_storage == "pack":
            (path / IMAGES_DIR).mkdir(exist_ok=True)
        shard = EdgeShard.create(str(path), config)
        log.info(
            "created atlas at %s (%d-d, m=%d, ef_construct=%d, %s)",
            path,
            dim,
            hnsw_m,
            ef_construct,
            quantization,
        )
        return cls(shard, path, dim, default_params)

    @classmethod
    def open(cls, path: Path, *, default_params: SearchParams | None = None) -> EdgeStore:
        """An existing atlas at `path`; its dimension comes from the stored config."""
        path = Path(path)
        dim = stored_dim(path)
        if dim is None:
            raise FileNotFoundError(f"no atlas at {path} (no {CONFIG_FILE}); create one first")
        try:
            shard = EdgeShard.load(str(path))
        except Exception as err:  # the binding raises a bare Exception
            raise RuntimeError(
                f"cannot open the atlas at {path} (is another engine process using it?): {err}"
            ) from err
        log.info("opened atlas at %s (%d-d)", path, dim)
        return cls(shard, path, dim, default_params)

    @classmethod
    def open_or_create(cls, path: Path, dim: int, **kwargs: Any) -> EdgeStore:
        """Open the atlas at `path`, or create it; ValueError if it holds vectors of another size."""
        path = Path(path)
        existing = stored_dim(path)
        if existing is None:
            return cls.create(path, dim, **kwargs)
        if existing != dim:
            raise AtlasDimensionError(
                f"atlas at {path} holds {existing}-d vectors but the CLIP model gives {dim}-d: "
                "re-index, or point MIRAGE_DATA_DIR elsewhere",
                stored=existing,
                wanted=dim,
            )
        return cls.open(path, default_params=kwargs.get("default_params"))

    # ---- writing -------------------------------------------------------------------------

    def upsert(self, records: Sequence[AtlasRecord]) -> None:
        """Insert or replace points; the point id is derived from `payload.atlas_id`."""
        rows = check_records(records, self.dim)
        shard = self._open_shard()
        for start in range(0, len(records), UPSERT_CHUNK):
            points = [
                Point(
                    id=point_id(rec.payload.atlas_id),
                    vector={VECTOR_NAME: rows[start + i].tolist()},
                    payload=self._stored_payload(rec),
                )
                for i, rec in enumerate(records[start : start + UPSERT_CHUNK])
            ]
            shard.update(UpdateOperation.upsert_points(points))

    def optimize(self) -> None:
        """Merge segments and build the HNSW index. Blocks the whole process, GIL included
        (measured: 18 s for 20k x 128 on this machine); below ~10 MB of vectors it builds no
        HNSW and search stays an exact scan."""
        changed = self._open_shard().optimize()
        log.info("optimized atlas at %s (changed: %s)", self.path, changed)

    def close(self) -> None:
        """Flush to disk and release the files; later calls raise RuntimeError."""
        with self._close_lock:
            if self._shard is None:
                return
            if self.images is not None:
                self.images.close()  # before the shard: no stored point may reference unwritten bytes
            self._shard.flush()
            self._shard.close()
            self._shard = None

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
        request = QueryRequest(
            limit=limit,
            query=Query.Nearest(query, using=VECTOR_NAME),
            filter=_modality_filter(modality),
            params=EdgeSearchParams(
                hnsw_ef=p.hnsw_ef,
                exact=p.exact,
                quantization=EdgeQuantizationParams(rescore=p.rescore, oversampling=p.oversampling),
            ),
            with_payload=PayloadSelector.Exclude([IMAGE_KEY]),
            with_vector=[VECTOR_NAME] if with_vectors else False,
        )
        return [
            hit_from_point(sp.payload, sp.score, vector_of(sp.vector) if with_vectors else None)
            for sp in self._open_shard().query(request)
        ]

    def retrieve(self, atlas_ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredHit]:
        """The points with these atlas ids, in the order asked, missing ones left out; score 1.0."""
        wanted = ids_by_point(atlas_ids)
        found: dict[str, StoredHit] = {}
        for part in chunks(list(wanted), ID_CHUNK):
            for rec in self._open_shard().retrieve(
                list(part),
                with_payload=PayloadSelector.Exclude([IMAGE_KEY]),
                with_vector=[VECTOR_NAME] if with_vectors else False,
            ):
                hit = hit_from_point(rec.payload, 1.0, vector_of(rec.vector) if with_vectors else None)
                found[hit.atlas_id] = hit
        return [found[a] for a in wanted.values() if a in found]

    def image(self, atlas_id: str) -> bytes | None:
        """The stored JPEG bytes of one point, or None (unknown id or no image)."""
        records = self._open_shard().retrieve(
            [point_id(atlas_id)],
            with_payload=PayloadSelector.Include([IMAGE_KEY, IMAGE_REF_KEY, "atlas_id"]),
            with_vector=False,
        )
        if not records:
            return None
        ref = (records[0].payload or {}).get(IMAGE_REF_KEY)
        if ref and self.images is not None:
            return self.images.read(ref)
        return decode_image(records[0].payload)

    def existing_sources(self, atlas_ids: Sequence[str]) -> dict[str, str | None]:
        """The stored ones of these atlas ids, each with its collection (None where the payload has none)."""
        wanted = ids_by_point(atlas_ids)
        present: dict[str, str | None] = {}
        for part in chunks(list(wanted), ID_CHUNK):
            for rec in self._open_shard().retrieve(list(part), with_payload=PayloadSelector.Include([SOURCE_KEY]),
                                                   with_vector=False):
                present[wanted[str(rec.id)]] = (rec.payload or {}).get(SOURCE_KEY) or None
        return present

    def count(self, *, modality: str | None = None) -> int:
        """Exact number of atlas images, optionally of one modality (the reserved record left out)."""
        return self._open_shard().count(CountRequest(exact=True, filter=_images_filter(modality)))

    def scroll(self, batch_size: int = 256, *, with_images: bool = True) -> Iterator[list[AtlasRecord]]:
        """Every point with vector and full payload, in batches of `batch_size` (point-id order)."""
        if batch_size < 1:
            raise ValueError(f"batch_size: must be positive, got {batch_size}")
        offset = None
        while True:
            records, offset = self._open_shard().scroll(
                ScrollRequest(
                    offset=offset,
                    limit=batch_size,
                    with_payload=True if with_images else PayloadSelector.Exclude([IMAGE_KEY]),
                    with_vector=[VECTOR_NAME],
                )
            )
            batch = [record_from_point(r.payload, vector_of(r.vector)) for r in records if str(r.id) != META_POINT_ID]
            if with_images and self.images is not None:
                for rec in batch:  # exports carry the bytes, whatever the target store keeps
                    if rec.payload.image_ref and not rec.payload.image_jpeg_b64:
                        rec.payload.image_jpeg_b64 = base64.b64encode(self.images.read(rec.payload.image_ref)).decode()
            if batch:
                yield batch
            if offset is None:
                return

    def read_meta(self) -> dict[str, Any] | None:
        """The atlas's own record, or None."""
        records = self._open_shard().retrieve([META_POINT_ID], with_payload=True, with_vector=False)
        meta = (records[0].payload or {}).get(META_KEY) if records else None
        return dict(meta) if meta else None

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace the atlas's own record (a point without a vector, so search never meets it)."""
        point = Point(id=META_POINT_ID, vector={}, payload={META_KEY: dict(meta)})
        self._open_shard().update(UpdateOperation.upsert_points([point]))

    # ---- helpers -------------------------------------------------------------------------

    def _open_shard(self) -> EdgeShard:
        shard = self._shard
        if shard is None:
            raise RuntimeError(f"the atlas at {self.path} is closed")
        return shard

    def _stored_payload(self, rec: AtlasRecord) -> dict[str, Any]:
        """The payload to store: in a pack atlas the JPEG goes to the pack and the payload keeps its reference."""
        payload = rec.payload.to_dict()
        if self.images is not None and payload.get(IMAGE_KEY):
            data = base64.b64decode(payload[IMAGE_KEY])
            # a record scrolled from this atlas and written back (a concepts backfill) keeps its bytes where they are
            if not (rec.payload.image_ref and self._holds(rec.payload.image_ref, data)):
                payload[IMAGE_REF_KEY] = self.images.write(data)
            payload[IMAGE_KEY] = None
        return payload

    def _holds(self, ref: str, data: bytes) -> bool:
        """True when `ref` points at exactly `data` in this atlas's packs."""
        try:
            return self.images is not None and self.images.read(ref) == data
        except ValueError:  # a reference into another atlas's packs
            return False

    def _ensure_payload_indexes(self) -> None:
        """Keyword indexes on modality and atlas_id, so filters are exact and cheap (idempotent)."""
        shard = self._open_shard()
        present = set(shard.info().payload_schema)
        for name in INDEXED_FIELDS:
            if name not in present:
                shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword))


def stored_dim(path: Path) -> int | None:
    """The vector size recorded in an atlas directory, or None when there is no atlas there."""
    config_file = Path(path) / CONFIG_FILE
    if not config_file.exists():
        return None
    try:
        return int(json.loads(config_file.read_text())["vectors"][VECTOR_NAME]["size"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{config_file} is not a MIRAGE atlas config (no '{VECTOR_NAME}' vector)") from err


def _modality_filter(modality: str | None) -> Filter | None:
    if modality is None:
        return None
    return Filter(must=[FieldCondition(key="modality", match=MatchValue(modality))])


def _images_filter(modality: str | None) -> Filter:
    """Every atlas image (of `modality`), without the reserved record."""
    must: list[Any] | None = [FieldCondition(key="modality", match=MatchValue(modality))] if modality is not None else None
    return Filter(must=must, must_not=[HasIdCondition({META_POINT_ID})])

