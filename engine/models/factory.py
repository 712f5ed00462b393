"""Settings → loaded models: the one door the engine, the index command and the eval command share.

    ids = model_ids(settings)                      # hub ids or local directories (tiny: built once)
    clip = load_role("clip", settings, ids)        # one role at a time (the engine reports each)
    models = load_models(settings, roles=("clip",)) # or several at once (the commands)

Device, dtype and 8-bit come from the settings here and nowhere else. The LCM-LoRA of the fast
generate mode is loaded with the diffusion model (not on the first fast request), unless `fast`
is False.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from engine.config import EngineSettings
from engine.models.base import ClipEncoder, ImageGenerator, TextGenerator
from engine.models.presets import ModelIds

Role = Literal["clip", "llm", "diffusion"]
ROLES: tuple[Role, ...] = ("clip", "llm", "diffusion")


@dataclass
class LoadedModels:
    """The models asked for (the others stay None) and the ids they were loaded from."""

    ids: ModelIds
    clip: ClipEncoder | None = None
    llm: TextGenerator | None = None
    diffusion: ImageGenerator | None = None


def model_ids(settings: EngineSettings) -> ModelIds:
    """The id of each role for the settings' profile ("tiny" builds the tiny models once, cached)."""
    from engine.models import presets  # looked up at call time, so tests can stand in for it

    return presets.model_ids_for(settings)


def load_role(role: Role, settings: EngineSettings, ids: ModelIds, *, fast: bool = True) -> Any:
    """Load one role's model from `ids` with the settings' device and dtype.

    Raises WeightsNotFoundError (offline, missing weights) and ValueError (bad settings); `fast`
    False leaves the diffusion model's LCM-LoRA unloaded.
    """
    if role == "clip":
        from engine.models.clip import load_clip

        return load_clip(ids.clip, device=settings.device, dtype=settings.dtype)
    if role == "llm" and settings.llm_url:
        # served apart: connecting means a probe answered (the server batches its own requests)
        from engine.models.remote_llm import connect_remote_llm

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return connect_remote_llm(
            settings.llm_url, model=ids.llm, api=settings.llm_api, timeout_s=settings.llm_timeout_s, api_key=key
        )
    if role == "llm":
        from engine.models.llm import load_llm

        return load_llm(ids.llm, device=settings.device, dtype=settings.dtype, load_8bit=settings.llm_8bit)
    if role == "diffusion":
        from engine.models.diffusion import load_diffusion

        return load_diffusion(
            ids.diffusion, device=settings.device, dtype=settings.dtype, lcm_lora=ids.lcm_lora if fast else None
        )
    raise ValueError(f"role: must be one of {list(ROLES)}, got {role!r}")


def load_models(settings: EngineSettings, roles: Sequence[Role] = ROLES, *, fast: bool = True) -> LoadedModels:
    """The models of `roles`, loaded in the order given (CLIP first fails fastest)."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"roles: {unknown} are not among {list(ROLES)}")
    loaded = LoadedModels(ids=model_ids(settings))
    for role in roles:
        setattr(loaded, role, load_role(role, settings, loaded.ids, fast=fast))
    return loaded
