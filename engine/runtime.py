"""The engine's runtime: the loaded models and the atlas, and the pipelines built on them.

`start()` loads everything in a background thread (engine/loading.py says in what order) so the
HTTP server answers /healthz and /readyz at once. Readiness is computed from the components
themselves (engine/components.py), per route family (`ROUTE_NEEDS`): search needs CLIP and an atlas
holding images, ask the atlas (and the LLM, or it answers with the captions only), generate the
diffusion model too. Ready means the search family is and nothing is still loading; an LLM or
diffusion model that failed to load leaves the engine ready but degraded, and says so per family
(and in metrics, which the alerts read).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from engine.components import ESSENTIAL, NAMES, Component
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
BATCHED_ROLES = ("clip", "llm", "diffusion")  # models whose calls share batches (engine/batching)
# what a loaded model must offer beyond its Protocol for its calls to be batched
BATCH_PATHS = {"clip": ("preprocess", "encode_pixels"), "llm": ("text_row", "generate_rows"),
               "diffusion": ("generate_batch",)}


# what each route family needs loaded (the atlas also with at least one image)
ROUTE_NEEDS = {"search": ("clip", "atlas"), "ask": ("atlas",), "generate": ("diffusion", "clip", "atlas"),
               "embed": ("clip",)}


class NotReady(RuntimeError):
    """A component a request needs is not loaded; `retryable` when it is still on its way."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class EngineRuntime:
    """Holds CLIP, the LLM, the diffusion model and the atlas store for one engine process."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.parts: dict[str, Component[Any]] = {name: Component(name) for name in NAMES}
        if not settings.enable_llm:
            self.parts["llm"].off_reason = "MIRAGE_ENABLE_LLM=false"
        if not settings.enable_diffusion:
            self.parts["diffusion"].off_reason = "MIRAGE_ENABLE_DIFFUSION=false"
        # Counted when the atlas opens and by refresh_atlas_count(), never by a readiness probe:
        # on a Qdrant server a count is an HTTP call, and probes run on the event loop.
        self.atlas_points: int | None = None
        self._lock = threading.Lock()
        self._began = False
        self._closed = False
        self._finished = threading.Event()

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
        for name, value in (("clip", clip), ("atlas", store), ("llm", llm), ("diffusion", diffusion)):
            part = runtime.parts[name]
            if part.status == "disabled":
                continue
            if value is None:
                part.fail("not given")
            else:
                part.finish(value, "given")
        runtime.atlas_points = store.count() if store is not None else None
        runtime._began = True
        runtime._finished.set()
        return runtime

    # ---- the components ------------------------------------------------------------------

    @property
    def clip(self) -> ClipEncoder | None:
        """The CLIP encoder, once loaded."""
        return self.parts["clip"].value

    @property
    def store(self) -> AtlasStore | None:
        """The atlas store, once open."""
        return self.parts["atlas"].value

    @property
    def llm(self) -> TextGenerator | None:
        """The LLM, once loaded."""
        return self.parts["llm"].value

    @property
    def diffusion(self) -> ImageGenerator | None:
        """The diffusion model (with its LCM-LoRA), once loaded."""
        return self.parts["diffusion"].value

    # ---- loading -------------------------------------------------------------------------

    def start(self) -> None:
        """Load everything in a background thread (idempotent); poll `readiness()` or `wait()`."""
        with self._lock:
            if self._began:
                return
            self._began = True
        threading.Thread(target=self._load_all, name="engine-loader", daemon=True).start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (successfully or not); False on timeout."""
        return self._finished.wait(timeout)

    def load(self) -> None:
        """Load every enabled component in this thread; errors are kept on the components, not raised."""
        with self._lock:
            if self._began:
                raise RuntimeError("the engine runtime is already loading or loaded")
            self._began = True
        self._load_all()

    def _load_all(self) -> None:
        from engine.loading import load_components

        try:
            load_components(self.settings, self.parts, keep=self._keep, on_atlas_count=self._set_atlas_points,
                            stopping=lambda: self._closed)
        finally:
            self._finished.set()

    def _keep(self, part: Component[Any], value: Any, summary: str) -> None:
        """Store what the loader loaded, unless close() ran meanwhile: then nothing stays open."""
        if part.name in BATCHED_ROLES:
            value = self._batched(part.name, value)
        with self._lock:
            if not self._closed:
                part.finish(value, summary)
                return
        if isinstance(value, AtlasStore):
            value.close()
        part.fail("the engine is shutting down")

    def _batched(self, role: str, model: Any) -> Any:
        """`model` behind its role's batcher (engine/batching): concurrent pipelines share forward passes."""
        from engine.batching.models import batched

        if not all(hasattr(model, name) for name in BATCH_PATHS[role]):
            return model  # a model without a batch path (a test double of the Protocol) runs call by call
        max_size = self.settings.batch_max
        if role == "diffusion":  # see EngineSettings.diffusion_batch_max
            on_cpu = str(getattr(model, "device", "cpu")) == "cpu"
            max_size = self.settings.diffusion_batch_max or (1 if on_cpu else max_size)
        return batched(role, model, window_ms=self.settings.batch_window_ms, max_size=max_size)

    def _set_atlas_points(self, points: int) -> None:
        self.atlas_points = points

    def refresh_atlas_count(self) -> int | None:
        """Count the atlas's images again (blocking: call it off the event loop); None without an atlas."""
        store = self.store
        if store is None:
            return None
        self.atlas_points = store.count()
        return self.atlas_points

    # ---- readiness -----------------------------------------------------------------------

    def readiness(self, *, private: bool = True) -> ReadyResponse:
        """Where every component stands; never touches the store (safe on the event loop).

        Ready when CLIP and the atlas are loaded and nothing is still loading. Without `private`
        the detail carries no error text or paths (for unauthenticated readers).
        """
        parts = list(self.parts.values())
        still_loading = any(p.may_come for p in parts)
        routes = self.route_readiness()
        return ReadyResponse(
            ready=all(self.parts[n].status == "loaded" for n in ESSENTIAL) and routes["search"] == "ready"
            and not still_loading,
            routes=routes,
            loaded=[p.name for p in parts if p.status == "loaded"],
            missing=[p.name for p in parts if p.status not in ("loaded", "disabled")],
            detail={p.name: p.detail(private=private) for p in parts},
            atlas_points=self.atlas_points,
            profile=self.settings.profile,
        )

    def route_readiness(self) -> dict[str, str]:
        """Each route family (ROUTE_NEEDS) in words; no error text or paths (safe for /readyz)."""
        words = {family: self._family_word(needs) for family, needs in ROUTE_NEEDS.items()}
        if words["ask"] == "ready" and self.parts["llm"].status != "loaded":
            words["ask"] = f"ready: captions only ({_llm_missing(self.parts['llm'])})"
        return words

    def _family_word(self, needs: tuple[str, ...]) -> str:
        for name in needs:
            part = self.parts[name]
            if part.status in ("failed", "disabled"):
                return f"unavailable: {name} {'failed to load' if part.status == 'failed' else 'is disabled'}"
        for name in needs:
            part = self.parts[name]
            if part.may_come:
                return f"not ready: {part.doing}" if name == "atlas" and part.doing.startswith("no atlas") \
                    else f"not ready: {name} is loading"
        if "atlas" in needs and self.atlas_points == 0:
            return "not ready: the atlas holds no images (run `engine index`)"
        return "ready"

    def require(self, *names: str) -> None:
        """Raise NotReady naming each of `names` that is not loaded, and why; retryable only when
        every one of them is still loading."""
        missing = [self.parts[n] for n in names if self.parts[n].status != "loaded"]
        if missing:
            raise NotReady(
                "not ready: " + "; ".join(f"{p.name} is {p.why_not()}" for p in missing),
                retryable=all(p.may_come for p in missing),
            )

    # ---- pipelines -----------------------------------------------------------------------

    def retriever(self) -> Retriever:
        """Top-k over the atlas with the configured search effort."""
        return Retriever.from_settings(self.atlas(), self.settings)

    def search_pipeline(self, *, enrich: bool = True) -> SearchPipeline:
        """Search. Without a usable LLM (disabled, still loading, failed) it still answers: the
        first-pass hits, the top hit as best, and a note saying why there is no explanation."""
        self.require("clip", "atlas")
        assert self.clip is not None
        llm_part = self.parts["llm"]
        return SearchPipeline.from_settings(
            self.clip, self.retriever(), llm_part.value, self.settings, llm_missing=_llm_missing(llm_part)
        )

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
        return AskPipeline.from_settings(self.atlas(), self.llm, self.settings, llm_missing=_llm_missing(self.parts["llm"]))

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
        """Release the store and what models hold open (batcher threads, a served LLM's connection);
        weights are freed with the process. Idempotent, never waits for the loader: a store it opens
        after this is closed at once."""
        with self._lock:
            self._closed = True
            store = self.parts["atlas"].value
        if store is not None:
            store.close()
        for name in BATCHED_ROLES:
            close = getattr(self.parts[name].value, "close", None)
            if callable(close):  # a batcher's threads, or a served LLM's connection and its thread
                close()


def _llm_missing(part: Component[Any]) -> str:
    """Why search or ask has no LLM, in words for the answer's note (no exception text, no paths)."""
    status = part.status
    if status == "disabled":
        return "the LLM is disabled"
    if status == "failed":
        return "the LLM failed to load (the operator finds why in the engine's log)"
    return "the LLM is still loading (ask again shortly for one)" if part.may_come else "the LLM is not loaded"
