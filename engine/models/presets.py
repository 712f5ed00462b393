"""Which model ids the engine loads: the settings' ids (real profile) or the locally built tiny ones."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import EngineSettings


@dataclass(frozen=True)
class ModelIds:
    """One id (hub id or local directory) per role; `lcm_lora` is None when fast mode is off."""

    clip: str
    llm: str
    diffusion: str
    lcm_lora: str | None


def model_ids_for(settings: EngineSettings) -> ModelIds:
    """The ids for `settings.profile`; "tiny" builds (once) the tiny models and the demo atlas."""
    if settings.profile == "tiny":
        from engine.tiny.build import ensure_tiny_models

        tiny = ensure_tiny_models(settings.models_dir, settings.demo_atlas_dir)
        return ModelIds(clip=tiny.clip, llm=tiny.llm, diffusion=tiny.diffusion, lcm_lora=tiny.lcm_lora)
    return ModelIds(
        clip=settings.clip_model,
        llm=settings.llm_model,
        diffusion=settings.diffusion_model,
        lcm_lora=settings.lcm_lora or None,
    )
