"""Text-to-image through diffusers: a Stable Diffusion 1.x pipeline with an optional LCM-LoRA fast mode."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from engine.models.base import GenerationCancelled, ProgressCallback
from engine.models.device import resolve_device, resolve_dtype
from engine.models.hub import (
    local_path,
    looked_in,
    missing_weights_as_error,
    require_hub_files,
    require_local_files,
)

log = logging.getLogger(__name__)

ROLE = "diffusion"
LORA_ROLE = "LCM-LoRA"
LORA_ADAPTER = "lcm"
LORA_FILES = ("*.safetensors", "*.bin")


class DiffusionGenerator:
    """A StableDiffusionPipeline behind the ImageGenerator protocol.

    One lock serialises generation: the pipeline's scheduler is stateful, and fast mode swaps the
    scheduler and toggles the LoRA on the shared UNet, so a concurrent normal request must never
    run in the middle of a fast one. A single GPU runs one denoising loop at a time anyway.
    """

    def __init__(self, pipe, *, model_id: str, device: str, lcm_lora: str | None = None) -> None:
        self.pipe = pipe
        self.model_id = model_id
        self.device = device
        self.lcm_lora = lcm_lora
        self.supports_fast = lcm_lora is not None
        self.tokenizer = pipe.tokenizer
        self.max_tokens = int(pipe.tokenizer.model_max_length)
        self._default_scheduler = pipe.scheduler
        self._fast_scheduler = None  # built with the LoRA by load_fast_mode (load_diffusion calls it)
        self._lock = threading.Lock()

    def truncate_prompt(self, prompt: str) -> str:
        """`prompt` unchanged if it fits the text encoder (77 tokens for SD 1.x), else cut by tokens."""
        # one token over the limit is enough to tell "too long" (and avoids the tokenizer's length warning)
        probe = self.tokenizer(prompt, truncation=True, max_length=self.max_tokens + 1).input_ids
        if len(probe) <= self.max_tokens:
            return prompt
        kept = self.tokenizer(prompt, truncation=True, max_length=self.max_tokens).input_ids
        return self.tokenizer.decode(kept, skip_special_tokens=True).strip()

    def generate(
        self,
        prompt: str,
        *,
        seed: int,
        steps: int,
        guidance: float,
        fast: bool = False,
        on_step: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Image.Image:
        """One RGB image for `prompt`; same seed and settings give the same pixels."""
        outcome = self.generate_batch(
            [prompt], seeds=[seed], steps=steps, guidance=guidance, fast=fast, on_steps=[on_step], cancels=[cancel]
        )[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        seeds: Sequence[int],
        steps: int,
        guidance: float,
        fast: bool = False,
        on_steps: Sequence[ProgressCallback | None] | None = None,
        cancels: Sequence[threading.Event | None] | None = None,
        on_done: Callable[[int, Image.Image | BaseException], None] | None = None,
    ) -> list[Image.Image | BaseException]:
        """One image per prompt in one denoising loop; image i depends only on prompt i and seed i.

        Each prompt has its own CPU generator, so its starting noise is what it would be alone. A
        cancelled prompt gets GenerationCancelled at once (its row keeps being computed: the
        scheduler's state spans the batch); the loop stops when every prompt is cancelled. A prompt
        whose pixels are not finite gets its own error. `on_done(i, outcome)` is called per prompt.
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if fast and not self.supports_fast:
            raise ValueError("fast=True needs an LCM-LoRA; none is configured (MIRAGE_LCM_LORA)")
        n = len(prompts)
        on_steps = list(on_steps or [None] * n)
        cancels = list(cancels or [None] * n)
        outcomes: list[Image.Image | BaseException | None] = [None] * n

        def finish(i: int, outcome: Image.Image | BaseException) -> None:
            if outcomes[i] is None:
                outcomes[i] = outcome
                if on_done is not None:
                    on_done(i, outcome)

        def cancelled(i: int) -> bool:
            cancel = cancels[i]
            return cancel is not None and cancel.is_set()

        def step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            for i in range(n):
                if outcomes[i] is not None:
                    continue
                if cancelled(i):
                    finish(i, GenerationCancelled(f"generation cancelled after step {step + 1}"))
                elif (on_step := on_steps[i]) is not None:
                    on_step(step + 1, pipe.num_timesteps)
            if all(outcome is not None for outcome in outcomes):
                raise GenerationCancelled(f"generation cancelled after step {step + 1}")
            return callback_kwargs

        with self._lock:
            for i in range(n):
                if cancelled(i):
                    finish(i, GenerationCancelled("generation cancelled before it started"))
            if all(outcome is not None for outcome in outcomes):
                return outcomes  # type: ignore[return-value]  # every slot is filled by now
            self._set_mode(fast)
            # a CPU generator per image gives the same starting noise on every device and in any batch
            generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
            try:
                with torch.inference_mode():
                    result = self.pipe(
                        [self.truncate_prompt(p) for p in prompts],
                        num_inference_steps=steps,
                        guidance_scale=guidance,
                        generator=generators,
                        callback_on_step_end=step_end,
                        output_type="np",
                    )
            except GenerationCancelled:
                if all(outcome is not None for outcome in outcomes):
                    return outcomes  # type: ignore[return-value]  # every slot is filled by now
                raise
        for i, pixels in enumerate(result.images):
            if not np.isfinite(pixels).all():
                finish(i, FloatingPointError("the diffusion model produced non-finite pixels for this prompt"))
            else:
                finish(i, self.pipe.image_processor.numpy_to_pil(pixels[None])[0].convert("RGB"))
        return outcomes  # type: ignore[return-value]  # every slot is filled by now

    def load_fast_mode(self) -> None:
        """Load the LCM-LoRA and its scheduler now, leaving normal mode active (idempotent).

        Done at start by `load_diffusion`: loading it on the first fast request would hold the
        generation lock (and the GPU) for the download and the load while other requests wait.
        """
        with self._lock:
            self._load_fast_mode()

    def _load_fast_mode(self) -> None:
        if self._fast_scheduler is not None or self.lcm_lora is None:
            return
        from diffusers import LCMScheduler

        log.info("loading LCM-LoRA %s for fast mode", self.lcm_lora)
        with missing_weights_as_error(LORA_ROLE, self.lcm_lora, looked_in(self.lcm_lora)):
            self.pipe.load_lora_weights(self.lcm_lora, adapter_name=LORA_ADAPTER)
        self.pipe.disable_lora()  # loading activates the adapter; normal mode runs without it
        self._fast_scheduler = LCMScheduler.from_config(self._default_scheduler.config)

    def _set_mode(self, fast: bool) -> None:
        """Switch UNet LoRA and scheduler between normal and fast mode (caller holds the lock)."""
        if fast:
            self._load_fast_mode()  # a no-op once load_diffusion has loaded it
            self.pipe.enable_lora()
            self.pipe.scheduler = self._fast_scheduler
        else:
            if self._fast_scheduler is not None:
                self.pipe.disable_lora()
            self.pipe.scheduler = self._default_scheduler


def load_diffusion(
    model_id: str, *, device: str = "auto", dtype: str = "auto", lcm_lora: str | None = None
) -> DiffusionGenerator:
    """Load a Stable Diffusion 1.x pipeline from a hub id or a local directory (fp16 on CUDA, fp32 on CPU)."""
    from diffusers import StableDiffusionPipeline

    device = resolve_device(device)
    torch_dtype = resolve_dtype("diffusion", device, dtype)
    source = _checked_source(ROLE, model_id, ["model_index.json"], "model_index.json")
    if lcm_lora:  # fail now rather than on the first fast request
        _checked_source(LORA_ROLE, lcm_lora, [LORA_FILES], "pytorch_lora_weights.safetensors")
    log.info("loading diffusion %s on %s (%s)", model_id, device, torch_dtype)
    with missing_weights_as_error(ROLE, model_id, looked_in(model_id)):
        pipe = StableDiffusionPipeline.from_pretrained(
            source,
            dtype=torch_dtype,
            # The safety checker blanks many medical images (anatomy trips its NSFW filter), and
            # every image we return is stamped SYNTHETIC for study use; so it is not loaded.
            safety_checker=None,
            requires_safety_checker=False,
        )
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)  # progress goes through on_step instead
    generator = DiffusionGenerator(pipe, model_id=model_id, device=device, lcm_lora=lcm_lora or None)
    generator.load_fast_mode()
    return generator


def _checked_source(role: str, model_id: str, local_files: list, hub_marker: str) -> str:
    path = local_path(model_id)
    if path is not None:
        require_local_files(role, model_id, path, local_files)
        return str(path)
    require_hub_files(role, model_id, hub_marker)
    return model_id
