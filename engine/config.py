"""Engine settings: one typed object, read from the environment (`MIRAGE_` prefix) and `.env`.

Every field is documented in `.env.example`. Secrets come only from the environment.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TINY_DATA_DIR = Path("data") / "tiny"  # the tiny profile's default MIRAGE_DATA_DIR
PLACEHOLDER_SECRETS = {"change-me", "changeme", "secret", "token", "xxx"}


class EngineSettings(BaseSettings):
    """Everything the engine process can be told."""

    model_config = SettingsConfigDict(env_prefix="MIRAGE_", env_file=".env", extra="ignore")

    # where and who
    profile: Literal["real", "tiny"] = "real"
    # Unset: data/ for the real profile, data/tiny for the tiny one, so trying the tiny profile
    # never meets (or touches) an atlas indexed with the real models.
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8700
    engine_token: SecretStr | None = None

    # models (an id on the hub or a local directory)
    clip_model: str = "hf-hub:luhuitong/CLIP-ViT-L-14-448px-MedICaT-ROCO"
    llm_model: str = "databricks/dolly-v2-3b"
    diffusion_model: str = "Nihirc/Prompt2MedImage"
    lcm_lora: str = "latent-consistency/lcm-lora-sdv1-5"
    device: str = "auto"
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    llm_8bit: Literal["auto", "on", "off"] = "auto"
    enable_llm: bool = True
    enable_diffusion: bool = True
    # The LLM served apart (engine/models/remote_llm.py): an OpenAI-compatible server's base URL;
    # MIRAGE_LLM_MODEL is then the served model's name. Unset: the engine loads the LLM itself.
    llm_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=60.0, gt=0, le=600)  # one whole generation, connect to last token
    llm_api: Literal["auto", "chat", "completions"] = "auto"  # auto: chat completions if the server takes them

    # atlas store
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    collection: str = "roco"
    hnsw_ef: int = Field(default=128, ge=1, le=4096)  # bench/README.md: recall@10 0.966 at 0.15 of a full scan (81k x 768, m=32, ef_construct=256, int8)
    search_exact: bool = False
    # the graph walk's scores (engine/store/points.py QUANTIZATIONS): int8, or binary2 for a 1.6M atlas
    # (with MIRAGE_OVERSAMPLING=16); float32 rescoring either way
    quantization: Literal["none", "int8", "binary2"] = "int8"
    # where a NEW embedded atlas keeps its downsized JPEGs: "pack" files beside it (payload holds a reference;
    # bench/README.md "The atlas at 1.6M") or in each point's "payload"; an existing atlas keeps its own way
    image_storage: Literal["payload", "pack"] = "pack"
    dedup_threshold: float = Field(default=0.985, ge=0.0, le=1.0)
    # quiz (engine/pipelines/quiz_fair.py, README "Quiz"): a distractor's caption is never closer to the
    # right caption (CLIP text cosine) than this; measured on the demo atlas (bench/README.md "Quiz fairness")
    quiz_distractor_threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    # a topic quiz's pool: the atlas images nearest the topic's CLIP text vector, at least this cosine,
    # at most quiz_topic_pool_max of them, and at least quiz_pool_min of them (also for a concept quiz) or
    # the request is refused with 409. Unset: the profile's (engine/pipelines/quiz_pools.py TOPIC_FLOORS:
    # tiny 0.5, measured on the demo atlas in bench/README.md; real 0.2, not measured here)
    quiz_topic_floor: float | None = Field(default=None, ge=-1.0, le=1.0)
    quiz_topic_pool_max: int = Field(default=200, ge=1, le=2000)
    quiz_pool_min: int = Field(default=5, ge=1, le=100)
    hnsw_m: int = Field(default=32, ge=4, le=128)  # HNSW graph degree, fixed when the atlas is created
    hnsw_ef_construct: int = Field(default=256, ge=4, le=1000)  # HNSW build effort, fixed at creation (bench/README.md)
    oversampling: float = Field(default=2.0, ge=1.0, le=16.0)  # int8: candidates x this, rescored in fp32

    # pipelines (reference implementation's parameters, docs/ARCHITECTURE.md §2)
    context_captions: int = Field(default=3, ge=1, le=10)
    llm_max_new_tokens: int = Field(default=100, ge=1, le=512)
    llm_top_p: float = Field(default=0.92, gt=0.0, le=1.0)
    llm_seed: int = 0
    # a follow-up's earlier turns in the prompt, counted in the LLM's tokens; the oldest go first
    ask_history_tokens: int = Field(default=256, ge=0, le=4096)
    diffusion_steps: int = Field(default=30, ge=1, le=100)
    diffusion_guidance: float = 7.5
    fast_steps: int = Field(default=4, ge=1, le=8)
    fast_guidance: float = 1.5

    # service
    queue_size: int = Field(default=16, ge=1)
    # worker threads running pipelines at once; unset: MIRAGE_BATCH_MAX, so a whole batch can be in flight
    gpu_workers: int | None = Field(default=None, ge=1)
    # dynamic batching (engine/batching): calls to one model within the window share a forward pass
    batch_window_ms: float = Field(default=10.0, ge=0, le=1000)
    batch_max: int = Field(default=16, ge=1, le=256)  # 1 = no batching: every call runs alone
    # images per denoising loop; unset: 1 for a model on the CPU (compute-bound there: a batch saves
    # ~6% and every image waits for the whole batch, bench/README.md), else MIRAGE_BATCH_MAX
    diffusion_batch_max: int | None = Field(default=None, ge=1, le=256)
    request_timeout_s: float = Field(default=120.0, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    # a request's whole body must arrive within this (408 after): a slow client cannot hold memory
    body_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # on SIGTERM: new work is refused (503) and running jobs get this long to finish before cancelled
    drain_grace_s: float = Field(default=30.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _tiny_profile_keeps_its_own_data(self) -> EngineSettings:
        if self.profile == "tiny" and "data_dir" not in self.model_fields_set:
            self.data_dir = TINY_DATA_DIR
        return self

    @model_validator(mode="after")
    def _llm_url_is_http(self) -> EngineSettings:
        if self.llm_url is not None and not self.llm_url.strip():
            self.llm_url = None  # `MIRAGE_LLM_URL=` in .env: the LLM runs in the engine
        if self.llm_url is not None:
            parts = urlsplit(self.llm_url.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"MIRAGE_LLM_URL: must be an http:// or https:// URL, got {self.llm_url!r}")
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_exposure(self) -> EngineSettings:
        token = self.engine_token.get_secret_value() if self.engine_token else None
        if token is not None and token.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("MIRAGE_ENGINE_TOKEN is a placeholder; set a real secret")
        if token is None and not is_loopback(self.host):
            raise ValueError(
                f"MIRAGE_ENGINE_TOKEN is unset, so the engine only listens on loopback; got host {self.host!r}"
            )
        return self

    @property
    def queue_workers(self) -> int:
        """How many pipelines run at once: MIRAGE_GPU_WORKERS, else MIRAGE_BATCH_MAX."""
        return self.gpu_workers if self.gpu_workers is not None else self.batch_max

    @property
    def models_dir(self) -> Path:
        """Cache of locally built (tiny) models."""
        return self.data_dir / "models"

    @property
    def atlas_dir(self) -> Path:
        """The embedded store's files."""
        return self.data_dir / "atlas"

    @property
    def demo_atlas_dir(self) -> Path:
        """The generated demo dataset in ROCO's file layout."""
        return self.data_dir / "demo-roco"


def is_loopback(host: str) -> bool:
    """True for localhost and any 127.0.0.0/8 or ::1 address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> EngineSettings:
    """The process-wide settings, read once."""
    return EngineSettings()


def describe_settings_error(error: ValidationError) -> str:
    """A one-line reason for invalid settings, naming each variable (`MIRAGE_PORT: …`) where it is one."""

    def one(problem: Any) -> str:  # pydantic's ErrorDetails, a TypedDict
        message = str(problem["msg"]).removeprefix("Value error, ")
        where = "_".join(map(str, problem.get("loc") or ()))
        return f"MIRAGE_{where.upper()}: {message}" if where else message

    return "; ".join(one(problem) for problem in error.errors())
