"""The engine's runtime: the loaded models and the atlas, and the pipelines built on them.

`start()` loads everything in a background thread so the HTTP server answers /healthz and
/readyz at once; readiness lists what is loaded, what is still loading and what failed (with
the error, e.g. "CLIP weights not found at …"). In the tiny profile an empty atlas is filled
with the demo atlas at first start.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from engine.config import EngineSettings
from engine.contract import ReadyResponse
from engine.models.base import ClipEncoder, ImageGenerator, TextGenerator
from engine.pipelines.ask import AskPipeline
from engine.pipelines.compare import ComparePipeline
from engine.pipelines.generate import GenerateDefaults, GeneratePipeline
from engine.pipelines.image_search import ImageSearchPipeline
from engine.pipelines.quiz import QuizPipeline
from engine.pipelines.retrieval import Retriever
from engine.pipelines.search import SearchPipeline
from engine.store.base import AtlasStore

logger = logging.getLogger(__name__)

COMPONENTS = ("clip", "atlas", "llm", "diffusion")
Status = Literal["pending", "loading", "loaded", "failed", "disabled"]


class NotReady(RuntimeError):
    """A component a request needs is not loaded (yet, or at all)."""


@dataclass
class ComponentState:
    """Where one component stands."""

    status: Status = "pending"
    detail: str = ""
    seconds: float | None = None


class EngineRuntime:
    """Holds CLIP, the LLM, the diffusion model and the atlas store for one engine process."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.clip: ClipEncoder | None = None
        self.llm: TextGenerator | None = None
        self.diffusion: ImageGenerator | None = None
        self.store: AtlasStore | None = None
        self.states = {name: ComponentState() for name in COMPONENTS}
        if not settings.enable_llm:
            self.states["llm"] = ComponentState("disabled", "MIRAGE_ENABLE_LLM=false")
        if not settings.enable_diffusion:
            self.states["diffusion"] = ComponentState("disabled", "MIRAGE_ENABLE_DIFFUSION=false")
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._loading_began = False

    @classmethod
    def from_components(
        cls,
        settings: EngineSettings,
        *,
        clip: ClipEncoder | None = None,
        store: AtlasStore | None = None,
        llm: TextGenerator | None = None,
        diffusion: ImageGenerator | None = None,
    ) -> EngineRuntime:
        """A runtime around components loaded elsewhere (embedding, tests); `start()` is then a no-op."""
        runtime = cls(settings)
        runtime.clip, runtime.store, runtime.llm, runtime.diffusion = clip, store, llm, diffusion
        for name, component in (("clip", clip), ("atlas", store), ("llm", llm), ("diffusion", diffusion)):
            if runtime.states[name].status != "disabled":
                status: Status = "loaded" if component is not None else "failed"
                runtime.states[name] = ComponentState(status, "given" if component is not None else "not given")
        runtime._loading_began = True
        runtime._finished.set()
        return runtime

    # ---- loading -------------------------------------------------------------------------

    def start(self) -> None:
        """Load everything in a background thread (idempotent); poll `readiness()` or `wait()`."""
        with self._lock:
            if self._thread is not None or self._loading_began:
                return
            self._thread = threading.Thread(target=self.load, name="engine-loader", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (successfully or not); False on timeout."""
        return self._finished.wait(timeout)

    def load(self) -> None:
        """Load every enabled component, in order, logging progress; errors are kept, not raised."""
        with self._lock:
            if self._loading_began:
                raise RuntimeError("the engine runtime is already loading or loaded")
            self._loading_began = True
        try:
            started = time.perf_counter()
            logger.info("engine loading (profile %s, device %s)", self.settings.profile, self.settings.device)
            ids = self._model_ids()
            if ids is None:
                return
            self._load("clip", lambda: self._load_clip(ids.clip))
            if self.clip is not None:
                self._load("atlas", lambda: self._open_atlas(ids.clip))
            else:
                self._set("atlas", "failed", "needs CLIP, which did not load")
            if self.settings.enable_llm:
                self._load("llm", lambda: self._load_llm(ids.llm))
            if self.settings.enable_diffusion:
                self._load("diffusion", lambda: self._load_diffusion(ids.diffusion, ids.lcm_lora))
            ready = self.readiness()
            logger.info(
                "engine loading finished in %.1f s: loaded %s%s", time.perf_counter() - started,
                ", ".join(ready.loaded) or "nothing",
                f"; missing {', '.join(ready.missing)}" if ready.missing else "",
            )
        finally:
            self._finished.set()

    def _model_ids(self) -> Any:
        from engine.models.presets import model_ids_for

        pending = [n for n, s in self.states.items() if s.status == "pending"]
        for name in pending:
            self._set(name, "loading", "building the tiny models" if self.tiny else "resolving model ids")
        try:
            return model_ids_for(self.settings)
        except Exception as exc:
            logger.exception("could not prepare the model ids")
            for name in pending:
                self._set(name, "failed", f"model ids: {exc}")
            return None

    def _load(self, name: str, load: Callable[[], str]) -> None:
        self._set(name, "loading", "")
        logger.info("loading %s …", name)
        started = time.perf_counter()
        try:
            summary = load()
        except Exception as exc:
            logger.error("%s failed to load: %s", name, exc, exc_info=not _expected_load_error(exc))
            self._set(name, "failed", str(exc) or type(exc).__name__)
            return
        seconds = time.perf_counter() - started
        self._set(name, "loaded", summary, seconds)
        logger.info("%s loaded in %.1f s (%s)", name, seconds, summary)

    def _load_clip(self, model_id: str) -> str:
        from engine.models.clip import load_clip

        self.clip = load_clip(model_id, device=self.settings.device, dtype=self.settings.dtype)
        return f"{model_id}, {self.clip.dim}-d"

    def _open_atlas(self, clip_model: str) -> str:
        from engine.store.factory import open_store
        from engine.store.provenance import AtlasMismatchError, AtlasProvenance, record_provenance

        assert self.clip is not None
        try:
            store = open_store(self.settings, self.clip.dim, clip_model=clip_model)
        except AtlasMismatchError:
            if not (self.tiny and not self.settings.qdrant_url):
                raise
            # The tiny models were rebuilt (new config): the old demo vectors mean nothing to them.
            logger.warning("the tiny CLIP changed since the demo atlas was indexed: rebuilding the atlas")
            shutil.rmtree(self.settings.atlas_dir, ignore_errors=True)
            store = open_store(self.settings, self.clip.dim)
        try:
            if self.tiny and store.count() == 0:
                self._index_demo_atlas(store)
            points = store.count()
            if points > 0:
                record_provenance(self.settings, AtlasProvenance.of(clip_model, self.clip.dim))
        except BaseException:
            store.close()
            raise
        self.store = store
        return f"{points} images"

    def _index_demo_atlas(self, store: AtlasStore) -> None:
        from engine.atlas.ingest import index_roco_layout

        assert self.clip is not None
        root = self.settings.demo_atlas_dir
        self._set("atlas", "loading", f"indexing the demo atlas from {root}")
        logger.info("atlas is empty: indexing the demo atlas from %s", root)
        report = index_roco_layout(root, store, self.clip, progress=True)
        logger.info("demo atlas indexed: %s", report.summary())

    def _load_llm(self, model_id: str) -> str:
        from engine.models.llm import load_llm

        self.llm = load_llm(
            model_id, device=self.settings.device, dtype=self.settings.dtype, load_8bit=self.settings.llm_8bit
        )
        return model_id

    def _load_diffusion(self, model_id: str, lcm_lora: str | None) -> str:
        from engine.models.diffusion import load_diffusion

        self.diffusion = load_diffusion(
            model_id, device=self.settings.device, dtype=self.settings.dtype, lcm_lora=lcm_lora
        )
        return model_id + (" with LCM-LoRA" if self.diffusion.supports_fast else "")

    def _set(self, name: str, status: Status, detail: str, seconds: float | None = None) -> None:
        with self._lock:
            self.states[name] = ComponentState(status, detail, seconds)

    @property
    def tiny(self) -> bool:
        """True in the offline tiny profile."""
        return self.settings.profile == "tiny"

    # ---- readiness -----------------------------------------------------------------------

    def readiness(self) -> ReadyResponse:
        """What is loaded and what is missing (with why); ready when every enabled component is loaded."""
        with self._lock:
            states = dict(self.states)
        loaded = [n for n, s in states.items() if s.status == "loaded"]
        missing = [n for n, s in states.items() if s.status not in ("loaded", "disabled")]
        detail = {n: _summary(s) for n, s in states.items()}
        points = None
        if self.store is not None:
            try:
                points = self.store.count()
            except Exception:  # a broken store must not break the readiness probe
                logger.exception("atlas count failed")
        return ReadyResponse(
            ready=not missing, loaded=loaded, missing=missing, detail=detail,
            atlas_points=points, profile=self.settings.profile,
        )

    def require(self, *names: str) -> None:
        """Raise NotReady naming each of `names` that is not loaded, and why."""
        with self._lock:
            problems = [
                f"{name} is {self._describe(self.states[name])}"
                for name in names
                if self.states[name].status != "loaded"
            ]
        if problems:
            raise NotReady("not ready: " + "; ".join(problems))

    @staticmethod
    def _describe(state: ComponentState) -> str:
        if state.status == "failed":
            return f"unavailable ({state.detail})"
        if state.status == "disabled":
            return f"disabled ({state.detail})"
        return "still loading" if state.status == "loading" else "not loaded yet"

    # ---- pipelines -----------------------------------------------------------------------

    def retriever(self) -> Retriever:
        """Top-k over the atlas with the configured search effort."""
        self.require("atlas")
        assert self.store is not None
        return Retriever.from_settings(self.store, self.settings)

    def search_pipeline(self, *, enrich: bool = True) -> SearchPipeline:
        """Search; needs the LLM only when enriching with it enabled."""
        self.require("clip", "atlas", *(["llm"] if enrich and self.settings.enable_llm else []))
        assert self.clip is not None
        llm = self.llm if self.settings.enable_llm else None
        return SearchPipeline.from_settings(self.clip, self.retriever(), llm, self.settings)

    def image_search_pipeline(self) -> ImageSearchPipeline:
        """Search by image."""
        self.require("clip", "atlas")
        assert self.clip is not None
        return ImageSearchPipeline(self.clip, self.retriever())

    def compare_pipeline(self) -> ComparePipeline:
        """Compare by latent arithmetic."""
        self.require("clip", "atlas")
        assert self.clip is not None
        return ComparePipeline(self.clip, self.retriever())

    def ask_pipeline(self) -> AskPipeline:
        """Grounded follow-ups. Without a usable LLM (disabled, loading, failed) the answer is the
        sources' numbered captions, with a note why."""
        self.require("atlas")
        llm = self.llm if self.settings.enable_llm else None
        missing = "the LLM is not loaded" if self.settings.enable_llm else "the LLM is disabled"
        return AskPipeline.from_settings(self.atlas(), llm, self.settings, llm_missing=missing)

    def quiz_pipeline(self) -> QuizPipeline:
        """Quiz questions: an atlas image, its caption hidden, CLIP hard negatives as distractors."""
        self.require("clip", "atlas")
        assert self.clip is not None
        return QuizPipeline.from_settings(self.clip, self.atlas(), self.settings)

    def generate_pipeline(self) -> GeneratePipeline:
        """Generate a stamped synthetic image and find the nearest real one."""
        self.require("diffusion", "clip", "atlas")
        assert self.diffusion is not None and self.clip is not None
        return GeneratePipeline(
            self.diffusion, self.clip, self.retriever(), GenerateDefaults.from_settings(self.settings)
        )

    def encoder(self) -> ClipEncoder:
        """CLIP alone (for /v1/embed)."""
        self.require("clip")
        assert self.clip is not None
        return self.clip

    def atlas(self) -> AtlasStore:
        """The atlas store."""
        self.require("atlas")
        assert self.store is not None
        return self.store

    def close(self) -> None:
        """Release the store (models are freed with the process)."""
        if self._thread is not None:
            self._thread.join(timeout=0.1)
        if self.store is not None:
            self.store.close()
            self.store = None


def _summary(state: ComponentState) -> str:
    return f"{state.status}: {state.detail}" if state.detail else state.status


def _expected_load_error(exc: Exception) -> bool:
    from engine.models.base import WeightsNotFoundError

    return isinstance(exc, WeightsNotFoundError | FileNotFoundError)
