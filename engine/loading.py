"""What the engine does at start, in order, in its loader thread (engine/runtime.py starts it).

1. the model ids (the tiny profile builds its models here, once, cached)
2. CLIP
3. the atlas: opened, and checked against its own record of which CLIP filled it
   (engine/store/provenance.py); the tiny profile fills it with the demo atlas
4. the LLM
5. the diffusion model, with the LCM-LoRA of the fast mode
6. on a Qdrant server with no atlas yet, or an atlas of 0 images: a watcher thread checks every
   ATLAS_POLL_S seconds and takes the atlas up once `engine index` has switched the alias to it
   (no restart); until then the atlas is "loading: no atlas: run `engine index`"

Nothing here ever deletes an atlas the engine did not generate as the demo, and nothing here creates
a collection on a Qdrant server (`engine index` creates the versioned collection and the alias).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from engine.components import Component
from engine.config import EngineSettings
from engine.models.base import ClipEncoder, ImageGenerator
from engine.store.base import AtlasStore
from engine.store.factory import NO_ATLAS, AtlasMissing

logger = logging.getLogger(__name__)
ATLAS_POLL_S = 10.0  # how often a missing or empty atlas is looked for again (tests shorten it)

# Called with each component that loaded, its value and a one-line summary.
Keep = Callable[[Component[Any], Any, str], None]


def load_components(
    settings: EngineSettings,
    parts: dict[str, Component[Any]],
    *,
    keep: Keep,
    on_atlas_count: Callable[[int], None],
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Load every enabled component of `parts`, in order; a failure is kept on its component, not
    raised. Once `stopping()` is true (the engine is shutting down) nothing more is loaded."""
    from engine.models.factory import load_role, model_ids

    started = time.perf_counter()
    tiny = settings.profile == "tiny"
    logger.info("engine loading (profile %s, device %s)", settings.profile, settings.device)
    # 1. Model ids (the tiny profile builds its models here)
    waiting = [p for p in parts.values() if p.status == "pending"]
    for part in waiting:
        part.begin("building the tiny models" if tiny else "resolving model ids")
    try:
        ids = model_ids(settings)
    except Exception as exc:
        logger.exception("could not prepare the model ids")
        for part in waiting:
            part.fail(f"model ids: {exc}")
        return

    def open_atlas(part: Component[Any]) -> tuple[AtlasStore, str]:
        clip = parts["clip"].value
        if clip is None:  # only ever called once CLIP has loaded (step 3)
            raise RuntimeError("the atlas needs CLIP, which is not loaded")
        store, points = open_serving_atlas(settings, clip, ids.clip, progress=part.set_doing)
        on_atlas_count(points)
        return store, f"{points} images"

    def load(name: str, how: Callable[[Component[Any]], tuple[Any, str]]) -> None:
        if stopping():
            if parts[name].status != "disabled":
                parts[name].fail("the engine is shutting down")
            return
        _load(parts[name], how, keep)

    # 2. CLIP
    load("clip", lambda part: (load_role("clip", settings, ids), ids.clip))
    # 3. The atlas, which needs CLIP
    if parts["clip"].status == "loaded" or stopping():
        load("atlas", open_atlas)
    else:
        parts["atlas"].fail("needs CLIP, which did not load")
    # 4. The LLM; 5. the diffusion model with the LCM-LoRA
    load("llm", lambda part: _llm_summary(load_role("llm", settings, ids), ids.llm))
    load("diffusion", lambda part: _diffusion_summary(load_role("diffusion", settings, ids)))
    # 6. An atlas still to come (no collection yet) or still empty: watched until it has images
    atlas = parts["atlas"]
    if (atlas.status == "loading" and atlas.doing == NO_ATLAS) or (atlas.status == "loaded" and _empty(atlas)):
        threading.Thread(target=_watch_atlas, args=(atlas, open_atlas, keep, on_atlas_count, stopping),
                         name="atlas-watcher", daemon=True).start()
    loaded = [p.name for p in parts.values() if p.status == "loaded"]
    missing = [p.name for p in parts.values() if p.status not in ("loaded", "disabled")]
    logger.info("engine loading finished in %.1f s: loaded %s%s", time.perf_counter() - started,
                ", ".join(loaded) or "nothing", f"; missing {', '.join(missing)}" if missing else "")


def _load(part: Component[Any], load: Callable[[Component[Any]], tuple[Any, str]], keep: Keep) -> None:
    if part.status == "disabled":
        return
    part.begin()
    logger.info("loading %s …", part.name)
    try:
        value, summary = load(part)
    except AtlasMissing as missing:  # not a failure: the atlas is still to be built (step 6 waits for it)
        logger.warning("%s; serving nothing that needs the atlas until it appears (checking every %.0f s)",
                       missing, ATLAS_POLL_S)
        part.set_doing(NO_ATLAS)
        return
    except Exception as exc:
        logger.error("%s failed to load: %s", part.name, exc, exc_info=not _expected_load_error(exc))
        part.fail(str(exc) or type(exc).__name__)
        return
    keep(part, value, summary)
    logger.info("%s loaded in %.1f s (%s)", part.name, part.seconds or 0.0, summary)


def _empty(atlas: Component[Any]) -> bool:
    return atlas.summary.startswith("0 images")


def _watch_atlas(
    atlas: Component[Any],
    open_atlas: Callable[[Component[Any]], tuple[AtlasStore, str]],
    keep: Keep,
    on_atlas_count: Callable[[int], None],
    stopping: Callable[[], bool],
) -> None:
    """Step 6: until the atlas exists and holds images, look again every ATLAS_POLL_S seconds."""
    while not stopping():
        time.sleep(ATLAS_POLL_S)
        if stopping():
            break
        store = atlas.value
        try:
            if store is None:  # no collection yet: `engine index` has not switched the alias
                try:
                    value, summary = open_atlas(atlas)
                except AtlasMissing:
                    continue
                keep(atlas, value, summary)
                logger.info("the atlas appeared: %s", summary)
                if not _empty(atlas):
                    return
                continue
            points = store.count()  # the alias now names another collection, or images were added
            on_atlas_count(points)
            if points > 0:
                atlas.summary = f"{points} images"
                logger.info("the atlas now holds %d images", points)
                return
        except Exception as exc:  # a store that fails now fails for good, as a failed load does
            logger.error("the atlas could not be opened: %s", exc)
            if atlas.value is None:
                atlas.fail(str(exc) or type(exc).__name__)
            return
    if atlas.value is None and atlas.status == "loading":
        atlas.fail("the engine is shutting down")


def _llm_summary(model: Any, model_id: str) -> tuple[Any, str]:
    # a served LLM says where it answers (engine/models/remote_llm.py); a loaded one is its id
    return model, getattr(model, "summary", model_id)


def _diffusion_summary(model: ImageGenerator) -> tuple[ImageGenerator, str]:
    return model, model.model_id + (" with LCM-LoRA" if model.supports_fast else "")


def _expected_load_error(exc: Exception) -> bool:
    from engine.models.base import LLMUnavailable, WeightsNotFoundError

    return isinstance(exc, WeightsNotFoundError | FileNotFoundError | LLMUnavailable)


def open_serving_atlas(
    settings: EngineSettings, clip: ClipEncoder, clip_model: str, progress: Callable[[str], None]
) -> tuple[AtlasStore, int]:
    """The atlas for `clip` (loaded from `clip_model`) and its number of images.

    Raises AtlasMismatchError when the atlas records another CLIP model, unless it is the embedded
    atlas marked as the demo and this is the tiny profile: only then is it deleted and the demo
    indexed afresh (a server's collection is never deleted).
    """
    from engine.store.factory import open_configured_store, rebuild_demo_store
    from engine.store.provenance import (
        AtlasMismatchError,
        AtlasProvenance,
        check_provenance,
        record_provenance,
    )

    tiny = settings.profile == "tiny"
    current = AtlasProvenance.of(clip_model, clip.dim)
    store = open_configured_store(settings, clip.dim, create=False)  # AtlasMissing on a server without one
    try:
        # 1. Whose vectors are these? Another model's atlas is left exactly as it is.
        try:
            recorded = check_provenance(store, current)
        except AtlasMismatchError as mismatch:
            if not (tiny and mismatch.recorded.demo and not settings.qdrant_url):
                raise  # another model's atlas, or a server's: never deleted at start
            # The tiny models were rebuilt (a new config): the old demo vectors mean nothing to them.
            progress("rebuilding the demo atlas for the new tiny CLIP")
            store = rebuild_demo_store(settings, store, clip.dim)
            recorded = None
        points = store.count()
        # 2. The tiny profile's demo: marked before the first point, so an interrupted run stays
        #    recognisably the demo; indexing again resumes it (stored images are skipped).
        if tiny and (points == 0 or (recorded is not None and recorded.demo)):
            if recorded is None:
                record_provenance(store, AtlasProvenance.of(clip_model, clip.dim, demo=True))
            progress("indexing the demo atlas")
            index_demo_atlas(settings, store, clip)
            points = store.count()
        # 3. An atlas filled before atlases kept a record: it was searched with this model until
        #    now, so this model's name is written into it.
        elif recorded is None and points > 0:
            logger.warning("the atlas in %s has no record of its CLIP model; recording %s",
                           store.location, current.clip_model)
            record_provenance(store, current)
    except BaseException:
        store.close()
        raise
    return store, points


def index_demo_atlas(settings: EngineSettings, store: AtlasStore, clip: ClipEncoder) -> None:
    """Index the generated demo dataset (settings.demo_atlas_dir) into `store`; resumable."""
    from engine.atlas.ingest import index_roco_layout

    root = settings.demo_atlas_dir
    logger.info("indexing the demo atlas from %s", root)
    report = index_roco_layout(root, store, clip, progress=True)
    logger.info("demo atlas: %s", report.summary())
