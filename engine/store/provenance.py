"""Which CLIP model filled an atlas, and whether it is the generated demo: kept INSIDE the store.

Two CLIP models of the same width give vectors of the same size but of different spaces: the store's
dim check cannot tell them apart, and search would silently return meaningless images. So every atlas
carries a record (a reserved point, `AtlasStore.read_meta`) naming the CLIP that filled it and whether
the engine generated it as the tiny profile's demo. Being in the store, the record travels with
`engine migrate` and guards a Qdrant server as well as the embedded files.

The policy built on it (engine/runtime.py, the index command): an atlas filled by another CLIP is
never searched, never written to, and never deleted — unless it is marked as the demo, which the
tiny profile may rebuild. Atlases from before this record kept it beside the embedded files
(`<data_dir>/atlas.clip.json`); that sidecar is still read and moved into the store.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store.base import AtlasStore

logger = logging.getLogger(__name__)

LEGACY_SIDECAR = "atlas.clip.json"  # beside the atlas directory, before the record moved inside


class AtlasMismatchError(ValueError):
    """The atlas was indexed with another CLIP model than the one loaded now."""

    def __init__(self, message: str, *, recorded: AtlasProvenance, current: AtlasProvenance) -> None:
        super().__init__(message)
        self.recorded, self.current = recorded, current


@dataclass(frozen=True)
class AtlasProvenance:
    """The CLIP model (identity and width) whose vectors fill the atlas; `demo` marks the generated demo."""

    clip_model: str
    dim: int
    demo: bool = False

    @classmethod
    def of(cls, clip_model: str, dim: int, *, demo: bool = False) -> AtlasProvenance:
        """The provenance of vectors from the CLIP model loaded as `clip_model` (id or directory)."""
        return cls(clip_model=clip_identity(clip_model), dim=dim, demo=demo)

    def to_meta(self) -> dict[str, Any]:
        """The record as stored in the atlas."""
        return {"clip_model": self.clip_model, "dim": self.dim, "demo": self.demo}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> AtlasProvenance:
        """Inverse of `to_meta`; ValueError when the record is not one."""
        try:
            return cls(clip_model=str(meta["clip_model"]), dim=int(meta["dim"]), demo=bool(meta.get("demo", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an atlas provenance record: {meta!r}") from exc


def clip_identity(model_id: str) -> str:
    """What names a CLIP model across machines: the hub id as given, or, for a local directory (also
    `local-dir:…`), its last two path parts plus the sizes of its files, so that moving the data
    directory keeps the identity while a rebuilt model (new folder or new weights) changes it."""
    path = Path(model_id.removeprefix("local-dir:"))
    if not path.is_dir():
        return model_id
    sizes = ",".join(f"{f.name}={f.stat().st_size}" for f in sorted(path.iterdir()) if f.is_file())
    return f"local:{path.parent.name}/{path.name}[{sizes}]"


def read_provenance(store: AtlasStore) -> AtlasProvenance | None:
    """The record kept in `store`, or None (no record, or an unreadable one, which is logged)."""
    meta = store.read_meta()
    if meta is None:
        return None
    try:
        return AtlasProvenance.from_meta(meta)
    except ValueError as exc:
        logger.warning("ignoring the unreadable provenance record of %s: %s", store.location, exc)
        return None


def record_provenance(store: AtlasStore, provenance: AtlasProvenance) -> None:
    """Write the record into `store` (replacing any earlier one)."""
    store.write_meta(provenance.to_meta())


def adopt_legacy_sidecar(store: AtlasStore, atlas_dir: Path) -> AtlasProvenance | None:
    """Move an older atlas's sidecar record (`<atlas_dir>/../atlas.clip.json`) into the store, once.

    Only when the store has no record of its own and holds images (an empty atlas was never filled
    by anyone). The sidecar file is left in place and no longer read. Returns what was adopted.
    """
    sidecar = Path(atlas_dir).parent / LEGACY_SIDECAR
    if not sidecar.is_file() or store.read_meta() is not None or store.count() == 0:
        return None
    try:
        data = json.loads(sidecar.read_text())
        provenance = AtlasProvenance(clip_model=str(data["clip_model"]), dim=int(data["dim"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable atlas provenance %s: %s", sidecar, exc)
        return None
    record_provenance(store, provenance)  # never `demo`: the sidecar could not say so
    logger.info("moved the atlas record of %s from %s into the atlas itself", store.location, sidecar)
    return provenance


def check_provenance(store: AtlasStore, current: AtlasProvenance) -> AtlasProvenance | None:
    """The store's record; AtlasMismatchError when it names another CLIP model than `current`, or
    when the store's vectors are of another size (whether or not it has a record)."""
    recorded = read_provenance(store)
    if store.dim == current.dim and (recorded is None or recorded.clip_model == current.clip_model):
        return recorded
    found = recorded or AtlasProvenance(clip_model=UNRECORDED, dim=store.dim)
    raise AtlasMismatchError(mismatch_message(store.location, found, current), recorded=found, current=current)


UNRECORDED = "an unrecorded CLIP model"


def mismatch_message(location: str, recorded: AtlasProvenance, current: AtlasProvenance) -> str:
    """Both models and the two ways out, for the operator."""
    what = "the generated demo atlas" if recorded.demo else "the atlas"
    named = recorded.clip_model if recorded.clip_model == UNRECORDED else repr(recorded.clip_model)
    same_model = (
        ""
        if recorded.clip_model.startswith("local:") or recorded.clip_model == UNRECORDED
        else f"; or run the model it was built with: MIRAGE_CLIP_MODEL={recorded.clip_model}"
    )
    return (
        f"{what} in {location} was indexed with {named} ({recorded.dim}-d), but this engine runs CLIP "
        f"{current.clip_model!r} ({current.dim}-d); its vectors would give meaningless results, so it was "
        "left untouched. Ways out: point MIRAGE_DATA_DIR (MIRAGE_COLLECTION on a Qdrant server) at "
        "another location — with MIRAGE_DATA_DIR unset the tiny profile uses its own data/tiny — or index "
        f"an atlas for this model there with `python -m engine index …`{same_model}."
    )
