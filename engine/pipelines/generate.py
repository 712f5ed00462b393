"""Generate (docs/ARCHITECTURE.md §2): the original prompt → a synthetic image, stamped, with the nearest real one.

    prompt ──tokenizer (77 tokens)──▶ diffusion (seed, steps, guidance; LCM-LoRA in fast mode)
           ──▶ SYNTHETIC banner + PNG metadata
           ──CLIP image tower──▶ nearest real atlas image

The prompt is the user's own text, not the LLM's enrichment: the paper found longer prompts do
not help the diffusion model.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

import numpy as np

from engine.config import EngineSettings
from engine.contract import GUIDANCE_MAX, GUIDANCE_MIN, QUERY_MAX_CHARS, SEED_MAX, steps_problem
from engine.models.base import ClipEncoder, ImageGenerator, ProgressCallback

from .results import GenerateResult, InvalidInput, Stopwatch, check_seed
from .retrieval import Retriever
from .stamp import png_with_metadata, public_model_name, stamp_synthetic


@dataclass(frozen=True)
class GenerateDefaults:
    """Steps and guidance when the caller gives none: the default scheduler, and LCM-LoRA's fast mode."""

    steps: int = 30
    guidance: float = 7.5
    fast_steps: int = 4
    fast_guidance: float = 1.5

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> GenerateDefaults:
        """The defaults held in `settings`."""
        return cls(
            steps=settings.diffusion_steps,
            guidance=settings.diffusion_guidance,
            fast_steps=settings.fast_steps,
            fast_guidance=settings.fast_guidance,
        )


class GeneratePipeline:
    """Text → stamped synthetic image → nearest real atlas image."""

    def __init__(
        self,
        diffusion: ImageGenerator,
        clip: ClipEncoder,
        retriever: Retriever,
        defaults: GenerateDefaults | None = None,
    ) -> None:
        self.diffusion = diffusion
        self.clip = clip
        self.retriever = retriever
        self.defaults = defaults or GenerateDefaults()

    def __call__(
        self,
        prompt: str,
        *,
        seed: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        fast: bool = False,
        on_step: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerateResult:
        """One synthetic image; raises GenerationCancelled when `cancel` is set while it runs."""
        watch = Stopwatch()
        # 1. Check inputs and fill in the defaults (a random seed is returned, so it can be replayed)
        prompt, seed, steps, guidance = self.check_inputs(prompt, seed, steps, guidance, fast)

        # 2. Cut the original prompt where the diffusion text encoder would (77 tokens)
        prompt_used = self.diffusion.truncate_prompt(prompt)

        # 3. Denoise
        with watch("diffusion"):
            raw = self.diffusion.generate(
                prompt_used, seed=seed, steps=steps, guidance=guidance, fast=fast,
                on_step=on_step, cancel=cancel,
            )

        # 4. Stamp it SYNTHETIC, in the pixels and in the PNG metadata
        with watch("stamp"):
            stamped = stamp_synthetic(raw)
            png = png_with_metadata(stamped, {  # the model's public name: never a path on this machine
                "model": public_model_name(self.diffusion.model_id), "prompt": prompt_used, "seed": seed,
                "steps": steps, "guidance": guidance, "fast": str(fast).lower(),
            })

        # 5. The nearest real image: CLIP image embedding of the (unstamped) synthetic image → atlas
        with watch("nearest"):
            vector = np.asarray(self.clip.encode_images([raw])[0], dtype=np.float32)
            nearest = self.retriever.top_k(vector, 1)
        return GenerateResult(
            prompt=prompt, prompt_used=prompt_used, image=stamped, png=png, seed=seed, steps=steps,
            guidance=guidance, fast=fast, nearest=nearest[0] if nearest else None,
            timings_ms=watch.total(),
        )

    def check_inputs(
        self, prompt: str, seed: int | None, steps: int | None, guidance: float | None, fast: bool
    ) -> tuple[str, int, int, float]:
        """(prompt, seed, steps, guidance) with defaults filled; raises InvalidInput naming the argument."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInput("prompt: must not be empty")
        if len(prompt) > QUERY_MAX_CHARS:
            raise InvalidInput(f"prompt: at most {QUERY_MAX_CHARS} characters (got {len(prompt)})")
        if fast and not self.diffusion.supports_fast:
            raise InvalidInput("fast: this engine has no LCM-LoRA loaded; ask with fast=false")
        check_seed(seed)
        if seed is None:
            seed = secrets.randbelow(SEED_MAX + 1)
        if steps is None:
            steps = self.defaults.fast_steps if fast else self.defaults.steps
        # the range per mode is the contract's (GenerateRequest checks it at the door with the same words)
        problem = steps_problem(steps, fast)
        if problem:
            raise InvalidInput(problem)
        if guidance is None:
            guidance = self.defaults.fast_guidance if fast else self.defaults.guidance
        elif not GUIDANCE_MIN <= guidance <= GUIDANCE_MAX:
            raise InvalidInput(f"guidance: between {GUIDANCE_MIN} and {GUIDANCE_MAX} (got {guidance})")
        return prompt.strip(), seed, steps, float(guidance)
