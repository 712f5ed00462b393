"""Which CLIP model filled the embedded atlas, so vectors of one model are never searched with another.

Two CLIP models of the same width give vectors of the same size but of different spaces: the store's
dim check cannot tell them apart, and search would silently return meaningless images. The embedded
atlas therefore keeps a small record beside its files (`<data_dir>/atlas.clip.json`). A Qdrant server
(MIRAGE_QDRANT_URL) is shared by replicas and has no local folder: there the operator keeps one model
per collection.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.config import EngineSettings

logger = logging.getLogger(__name__)


class AtlasMismatchError(ValueError):
    """The atlas was indexed with another CLIP model than the one loaded now."""


@dataclass(frozen=True)
class AtlasProvenance:
    """The CLIP model (id and width) whose vectors fill the atlas."""

    clip_model: str
    dim: int

    @classmethod
    def of(cls, clip_model: str, dim: int) -> AtlasProvenance:
        """The provenance of vectors from the CLIP model loaded as `clip_model` (id or directory)."""
        return cls(clip_model=clip_identity(clip_model), dim=dim)


def clip_identity(model_id: str) -> str:
    """What names a CLIP model across machines: the hub id as given, or, for a local directory (also
    `local-dir:…`), its last two path parts plus the sizes of its files, so that moving the data
    directory keeps the identity while a rebuilt model (new folder or new weights) changes it."""
    path = Path(model_id.removeprefix("local-dir:"))
    if not path.is_dir():
        return model_id
    sizes = ",".join(f"{f.name}={f.stat().st_size}" for f in sorted(path.iterdir()) if f.is_file())
    return f"local:{path.parent.name}/{path.name}[{sizes}]"


def provenance_path(settings: EngineSettings) -> Path | None:
    """Where the record lives, or None for a Qdrant server."""
    return None if settings.qdrant_url else settings.data_dir / "atlas.clip.json"


def read_provenance(settings: EngineSettings) -> AtlasProvenance | None:
    """The recorded provenance, or None when there is none (or it is unreadable, which is logged)."""
    path = provenance_path(settings)
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return AtlasProvenance(clip_model=str(data["clip_model"]), dim=int(data["dim"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable atlas provenance %s: %s", path, exc)
        return None


def record_provenance(settings: EngineSettings, provenance: AtlasProvenance) -> None:
    """Write the record (atomically); a no-op for a Qdrant server."""
    path = provenance_path(settings)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(provenance), indent=2) + "\n")
    tmp.replace(path)


def check_provenance(settings: EngineSettings, current: AtlasProvenance) -> None:
    """Raise AtlasMismatchError when the atlas was recorded as filled by another CLIP model."""
    recorded = read_provenance(settings)
    if recorded is None or recorded.clip_model == current.clip_model:
        return
    hint = "" if recorded.clip_model.startswith("local:") else f", or set MIRAGE_CLIP_MODEL={recorded.clip_model}"
    raise AtlasMismatchError(
        f"the atlas in {settings.atlas_dir} was indexed with CLIP {recorded.clip_model!r}, but this engine "
        f"runs {current.clip_model!r}: re-index into another MIRAGE_DATA_DIR (python -m engine index …)"
        + hint
    )
