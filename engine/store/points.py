"""Checks and conversions shared by both store backends (EdgeStore and ClientStore).

Both backends must accept and refuse the same input with the same message, and turn stored
payloads back into `StoredHit`s the same way; that logic lives here once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.store.base import IMAGE_KEY, VECTOR_NAME, AtlasPayload, AtlasRecord, StoredHit, point_id

# Cap on ids per request when we look up many points at once (existing_ids on a big batch).
ID_CHUNK = 1024


def check_query_vector(vector: np.ndarray, dim: int) -> list[float]:
    """One query vector as a unit-length list of floats; ValueError naming the problem otherwise."""
    arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.shape[0] != dim:
        raise ValueError(f"vector: expected shape ({dim},), got {tuple(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("vector: contains NaN or infinity")
    norm = float(np.linalg.norm(arr))
    if norm == 0.0:
        raise ValueError("vector: is all zeros, cosine similarity is undefined")
    return (arr / norm).tolist()


# How the graph walk scores candidates before the float32 rescoring: "int8" (1 byte a dimension), or
# "binary2" (2 bits a dimension: 16x smaller, fits the caches at 1.6M points, needs oversampling ~16;
# bench/README.md "The atlas at 1.6M"); "none" walks the float32 vectors themselves.
QUANTIZATIONS = ("none", "int8", "binary2")


def check_new_atlas(dim: Any, quantization: str) -> None:
    """The options of a new atlas; ValueError naming the bad one."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim: must be a positive integer, got {dim!r}")
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization: must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")


def check_k(k: int) -> int:
    """k as a positive int; ValueError otherwise."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: must be a positive integer, got {k!r}")
    return int(k)


def check_records(records: Sequence[AtlasRecord], dim: int) -> np.ndarray:
    """The records' vectors as unit float32 rows (n, dim); ValueError naming the bad record."""
    rows = np.empty((len(records), dim), dtype=np.float32)
    for i, record in enumerate(records):
        if not record.payload.atlas_id:
            raise ValueError(f"records[{i}]: payload.atlas_id is empty")
        vec = np.asarray(record.vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != dim:
            raise ValueError(
                f"records[{i}] ({record.payload.atlas_id}): vector has {vec.shape[0]} dimensions, "
                f"the atlas holds {dim}-d vectors"
            )
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError(f"records[{i}] ({record.payload.atlas_id}): vector is zero or not finite")
        rows[i] = vec / norm
    return rows


def ids_by_point(atlas_ids: Sequence[str]) -> dict[str, str]:
    """Map point id -> atlas id for these atlas ids, first occurrence order, duplicates dropped."""
    return {point_id(a): a for a in dict.fromkeys(atlas_ids)}


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """`items` cut into consecutive slices of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def vector_of(vector: Any) -> list[float]:
    """The CLIP vector out of a stored point's vector field (a dict by name for named vectors)."""
    if isinstance(vector, dict):
        return vector[VECTOR_NAME]
    return vector


def hit_from_point(payload: dict[str, Any] | None, score: float, vector: list[float] | None) -> StoredHit:
    """A StoredHit from a stored payload dict, its score and (optionally) its vector."""
    payload = dict(payload or {})
    return StoredHit(
        atlas_id=payload["atlas_id"],
        score=float(score),
        payload=AtlasPayload.from_dict(payload),
        vector=None if vector is None else np.asarray(vector, dtype=np.float32),
    )


def record_from_point(payload: dict[str, Any] | None, vector: list[float]) -> AtlasRecord:
    """An AtlasRecord (vector + full payload) from a stored point, for export."""
    return AtlasRecord(
        vector=np.asarray(vector, dtype=np.float32),
        payload=AtlasPayload.from_dict(dict(payload or {})),
    )


def decode_image(payload: dict[str, Any] | None) -> bytes | None:
    """The JPEG bytes stored under IMAGE_KEY, or None when the point has no image."""
    encoded = (payload or {}).get(IMAGE_KEY)
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"stored image of {(payload or {}).get('atlas_id')!r} is not valid base64") from err
