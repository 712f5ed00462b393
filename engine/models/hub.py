"""Where weights come from: a local directory or the Hugging Face hub cache, and a clear error if neither.

Every loader resolves its id here first, so "weights missing while offline" fails fast with
WeightsNotFoundError (naming the role, the id and where we looked) instead of a hang or a deep traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from engine.models.base import WeightsNotFoundError

LOCAL_DIR_PREFIX = "local-dir:"
HF_PREFIX = "hf-hub:"
_TRUE = {"1", "true", "yes", "on"}


def hf_cache_dir() -> str:
    """The hub cache directory huggingface_hub downloads into."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def is_offline() -> bool:
    """True when the hub must not be contacted (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE), read at call time."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_repo_cache(repo_id: str) -> str:
    """Where huggingface_hub keeps `repo_id` once downloaded."""
    return os.path.join(hf_cache_dir(), "models--" + repo_id.replace("/", "--"))


def local_path(model_id: str) -> Path | None:
    """The directory `model_id` names, or None when it is a hub id.

    `local-dir:X`, absolute paths, `./`, `../` and `~` always mean a directory; a bare `org/name`
    means a directory only if one exists there.
    """
    raw = model_id.removeprefix(LOCAL_DIR_PREFIX)
    explicit = model_id.startswith(LOCAL_DIR_PREFIX) or raw.startswith(("/", "./", "../", "~"))
    path = Path(raw).expanduser()
    if explicit or path.is_dir():
        return path
    return None


def require_local_files(
    role: str, model_id: str, path: Path, patterns: Sequence[str | tuple[str, ...]]
) -> None:
    """Raise WeightsNotFoundError unless `path` holds a file for every pattern (a tuple: any one of its globs)."""

    def present(pattern: str | tuple[str, ...]) -> bool:
        alternatives = (pattern,) if isinstance(pattern, str) else pattern
        return path.is_dir() and any(any(path.glob(glob)) for glob in alternatives)

    missing = [p for p in patterns if not present(p)]
    if missing:
        raise WeightsNotFoundError(role, model_id, [str(path)], hint=f"expected files matching {missing}")


def require_hub_files(role: str, model_id: str, marker: str) -> None:
    """Offline, fail at once unless file `marker` of the hub repo `model_id` (`hf-hub:` allowed) is cached."""
    if not is_offline():
        return  # the library downloads it, with progress bars
    from huggingface_hub import try_to_load_from_cache

    repo_id = model_id.removeprefix(HF_PREFIX)
    if not isinstance(try_to_load_from_cache(repo_id, marker), str):
        raise WeightsNotFoundError(
            role, model_id, [hub_repo_cache(repo_id)], hint="HF_HUB_OFFLINE is set, so nothing is downloaded"
        )


@contextmanager
def missing_weights_as_error(role: str, model_id: str, looked_in: Sequence[str]) -> Iterator[None]:
    """Turn a library's "file not found / offline / cannot connect" error into WeightsNotFoundError."""
    try:
        yield
    except WeightsNotFoundError:
        raise
    except Exception as exc:
        if not _is_missing_weights(exc):
            raise
        raise WeightsNotFoundError(role, model_id, looked_in, hint=f"{type(exc).__name__}: {exc}") from exc


def _is_missing_weights(exc: BaseException | None) -> bool:
    from huggingface_hub.errors import EntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(
            exc, EntryNotFoundError | OfflineModeIsEnabled | RepositoryNotFoundError | FileNotFoundError
        ):
            return True
        if isinstance(exc, ConnectionError) or type(exc).__name__ in {"ConnectError", "ConnectTimeout"}:
            return True
        text = str(exc).lower()
        if isinstance(exc, OSError) and ("offline" in text or "connect" in text or "not found" in text):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def looked_in(model_id: str) -> list[str]:
    """Where a model id is searched: its directory, or the hub cache folder of the repo."""
    path = local_path(model_id)
    return [str(path)] if path is not None else [hub_repo_cache(model_id.removeprefix(HF_PREFIX))]
