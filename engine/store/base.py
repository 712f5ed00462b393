"""The atlas store interface: unit vectors plus payload, behind two Qdrant backends.

`EdgeStore` (qdrant-edge-py, in-process, on local disk) is the default; `ClientStore`
(qdrant-client, a server URL, or `:memory:` in tests) is for a server or cluster. Both
implement `AtlasStore`; congruence tests run the same calls against both.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

VECTOR_NAME = "clip"
# Payload key holding a downsized JPEG of the image (bytes travel with the atlas, docs/ARCHITECTURE.md §1).
IMAGE_KEY = "image_jpeg_b64"
# Payload key holding a reference into the atlas's pack image store instead (large atlases).
IMAGE_REF_KEY = "image_ref"
# Payload key naming the collection a point comes from (ROCO, ROCOv2, a figure collection's name).
SOURCE_KEY = "source"
POINT_NAMESPACE = uuid.UUID("6f1c1f0e-6d1a-4c53-9a51-3b0f2b6c7e01")
# The atlas's own record (which CLIP filled it, whether it is the generated demo) lives INSIDE the
# store, in one reserved point, so it travels with the atlas (migrate, a shared Qdrant server). The
# point has no vector, so no search can return it; count and scroll leave it out. Its id comes from
# another namespace than `point_id`'s, so no atlas id can collide with it.
META_POINT_ID = str(uuid.uuid5(uuid.UUID("0b7e4a52-90c1-4d55-8d2f-6a3c1e9f4b10"), "mirage-atlas-meta"))
META_KEY = "mirage_atlas_meta"


def point_id(atlas_id: str) -> str:
    """Stable Qdrant point id (a UUID string) derived from the atlas (ROCO) id."""
    return str(uuid.uuid5(POINT_NAMESPACE, atlas_id))


class AtlasDimensionError(ValueError):
    """An existing atlas holds vectors of another size than the ones offered to it."""

    def __init__(self, message: str, *, stored: int, wanted: int) -> None:
        super().__init__(message)
        self.stored, self.wanted = stored, wanted


@dataclass
class AtlasPayload:
    """What is stored with each vector (docs/ARCHITECTURE.md §4)."""

    atlas_id: str
    caption: str
    pmc_id: str | None = None
    licence: str | None = None
    split: str | None = None
    modality: str = "other"
    keywords: list[str] = field(default_factory=list)
    image_path: str | None = None
    image_jpeg_b64: str | None = None
    # Where the JPEG lives when the atlas keeps images outside the payload (engine/store/images.py).
    image_ref: str | None = None
    # UMLS concepts of the caption (docs/ARCHITECTURE.md §4): each {"cui", "name", "semtype"}, name and
    # semtype (a TUI such as T047) only where the source says them; ROCO's per-image semantic types,
    # which its files do not map to CUIs, as {"tui", "name"}. Empty for a point indexed before concepts.
    concepts: list[dict[str, str | None]] = field(default_factory=list)
    semtypes: list[dict[str, str | None]] = field(default_factory=list)
    # The collection the image comes from ("ROCO", "ROCOv2", "PMC-OA" …); None for a point indexed
    # before collections were recorded. Written only when set, so older payloads read back unchanged.
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The payload as stored in Qdrant."""
        return {
            "atlas_id": self.atlas_id,
            "caption": self.caption,
            "pmc_id": self.pmc_id,
            "licence": self.licence,
            "split": self.split,
            "modality": self.modality,
            "keywords": list(self.keywords),
            "image_path": self.image_path,
            IMAGE_KEY: self.image_jpeg_b64,
            "concepts": [dict(c) for c in self.concepts],
            "semtypes": [dict(t) for t in self.semtypes],
            **({IMAGE_REF_KEY: self.image_ref} if self.image_ref else {}),
            **({SOURCE_KEY: self.source} if self.source else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AtlasPayload:
        """Inverse of `to_dict`; unknown keys are ignored."""
        return cls(
            atlas_id=d["atlas_id"],
            caption=d.get("caption", ""),
            pmc_id=d.get("pmc_id"),
            licence=d.get("licence"),
            split=d.get("split"),
            modality=d.get("modality") or "other",
            keywords=list(d.get("keywords") or []),
            image_path=d.get("image_path"),
            image_jpeg_b64=d.get(IMAGE_KEY),
            image_ref=d.get(IMAGE_REF_KEY),
            concepts=[dict(c) for c in d.get("concepts") or [] if isinstance(c, dict) and c.get("cui")],
            semtypes=[dict(t) for t in d.get("semtypes") or [] if isinstance(t, dict)],
            source=d.get(SOURCE_KEY) or None,
        )

    @property
    def cuis(self) -> list[str]:
        """The CUIs of the caption's concepts, in source order."""
        return [str(c["cui"]) for c in self.concepts]


@dataclass
class AtlasRecord:
    """One point to write: a unit vector and its payload."""

    vector: np.ndarray
    payload: AtlasPayload


@dataclass
class StoredHit:
    """One search result. `payload.image_jpeg_b64` is not filled by `search` (use `image`)."""

    atlas_id: str
    score: float
    payload: AtlasPayload
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class SearchParams:
    """Search-effort knobs (defaults come from bench/store_search.py's curve)."""

    hnsw_ef: int = 128
    exact: bool = False
    rescore: bool = True
    oversampling: float = 2.0


class AtlasStore(ABC):
    """A collection of unit vectors with payload, searched by cosine similarity."""

    dim: int
    # Where the atlas lives, for messages: a directory, or a collection on a server.
    location: str = "the atlas"

    @abstractmethod
    def upsert(self, records: Sequence[AtlasRecord]) -> None:
        """Insert or replace points (id derived from `payload.atlas_id`)."""

    @abstractmethod
    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        modality: str | None = None,
        params: SearchParams | None = None,
        with_vectors: bool = False,
    ) -> list[StoredHit]:
        """Top-k by cosine, best first; `modality` is an exact payload filter."""

    @abstractmethod
    def retrieve(self, atlas_ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredHit]:
        """The points with these atlas ids (missing ones are left out), score 1.0."""

    @abstractmethod
    def image(self, atlas_id: str) -> bytes | None:
        """The stored image bytes (JPEG) of one point, or None."""

    def existing_ids(self, atlas_ids: Sequence[str]) -> set[str]:
        """Which of these atlas ids are already stored (for resumable ingestion)."""
        return set(self.existing_sources(atlas_ids))

    def existing_sources(self, atlas_ids: Sequence[str]) -> dict[str, str | None]:
        """The stored ones of these atlas ids, each with the collection it came from (None where the
        point does not say: indexed before collections were recorded). Both Qdrant backends override
        this to read the `source` key alone; this default reads the points' payloads."""
        return {hit.atlas_id: hit.payload.source for hit in self.retrieve(atlas_ids)}

    @abstractmethod
    def count(self, *, modality: str | None = None) -> int:
        """Number of atlas images (optionally of one modality), exact; the reserved record is not counted."""

    @abstractmethod
    def scroll(self, batch_size: int = 256, *, with_images: bool = True) -> Iterator[list[AtlasRecord]]:
        """Every atlas image with vector and payload, in batches (for export); not the reserved record."""

    # Not abstract: a test double that never meets provenance needs neither; both Qdrant backends do.
    def read_meta(self) -> dict[str, Any] | None:
        """The atlas's own record (see META_POINT_ID), or None when it has none."""
        raise NotImplementedError(f"{type(self).__name__} keeps no atlas record; use EdgeStore or ClientStore")

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace the atlas's own record."""
        raise NotImplementedError(f"{type(self).__name__} keeps no atlas record; use EdgeStore or ClientStore")

    @abstractmethod
    def optimize(self) -> None:
        """Build indexes (HNSW) after bulk loading; a no-op where the backend does it itself."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release files."""

    def __enter__(self) -> AtlasStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_unit_rows(vectors: np.ndarray | Iterable[Iterable[float]]) -> np.ndarray:
    """float32 rows scaled to unit L2 norm; raises ValueError on a zero row."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("cannot normalise a zero vector")
    return arr / norms
