"""Text-to-image through diffusers: a Stable Diffusion 1.x pipeline with an optional LCM-LoRA fast mode."""

from __future__ import annotations

import logging
import threading

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
        self._fast_scheduler = None  # built with the LoRA on the first fast request
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
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if fast and not self.supports_fast:
            raise ValueError("fast=True needs an LCM-LoRA; none is configured (MIRAGE_LCM_LORA)")

        def step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            if on_step is not None:
                on_step(step + 1, pipe.num_timesteps)
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(f"generation cancelled after step {step + 1}")
            return callback_kwargs

        with self._lock:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled before it started")
            self._set_mode(fast)
            # a CPU generator gives the same starting noise on every device
            generator = torch.Generator("cpu").manual_seed(seed)
            with torch.inference_mode():
                result = self.pipe(
                    self.truncate_prompt(prompt),
                    num_inference_steps=steps,
                    guidance_scale=guidance,
                    generator=generator,
                    callback_on_step_end=step_end,
                    output_type="pil",
                )
        return result.images[0].convert("RGB")

    def _set_mode(self, fast: bool) -> None:
        """Switch UNet LoRA and scheduler between normal and fast mode (caller holds the lock)."""
        if fast:
            if self._fast_scheduler is None:
                from diffusers import LCMScheduler

                log.info("loading LCM-LoRA %s for fast mode", self.lcm_lora)
                with missing_weights_as_error(LORA_ROLE, self.lcm_lora, looked_in(self.lcm_lora)):
                    self.pipe.load_lora_weights(self.lcm_lora, adapter_name=LORA_ADAPTER)
                self._fast_scheduler = LCMScheduler.from_config(self._default_scheduler.config)
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
    return DiffusionGenerator(pipe, model_id=model_id, device=device, lcm_lora=lcm_lora or None)


def _checked_source(role: str, model_id: str, local_files: list, hub_marker: str) -> str:
    path = local_path(model_id)
    if path is not None:
        require_local_files(role, model_id, path, local_files)
        return str(path)
    require_hub_files(role, model_id, hub_marker)
    return model_id
