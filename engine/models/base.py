"""What the pipelines need from each model role. Loaders in this package return these.

Kept as Protocols so pipelines and tests depend on behaviour, not on open_clip,
transformers or diffusers types.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

# (step_done, total_steps) -> None; called from the worker thread during generation.
ProgressCallback = Callable[[int, int], None]
# One chat turn, as chat templates and OpenAI-style servers take it: {"role": ..., "content": ...}.
Message = Mapping[str, str]
# Where a Dolly-format response ends: the prompts ask for it, generators stop and cut at it.
END_KEY = "### End"


@dataclass(frozen=True)
class Prompt:
    """What an LLM is asked, in the two forms a generator may need.

    `text` is the prompt an in-process model tokenizes (its chat template rendered, or Dolly's
    format); `messages` are the same request as chat turns, for a server that applies its own
    template (None: the request exists only as text). engine/pipelines/prompts.py builds both.
    """

    text: str
    messages: tuple[Message, ...] | None = None


class WeightsNotFoundError(RuntimeError):
    """Model weights are not available locally and cannot be downloaded (e.g. HF_HUB_OFFLINE=1)."""

    def __init__(self, role: str, model_id: str, looked_in: Sequence[str], hint: str = "") -> None:
        self.role, self.model_id, self.looked_in = role, model_id, list(looked_in)
        where = ", ".join(self.looked_in) or "(nowhere)"
        msg = f"{role} weights not found at {where} for {model_id!r}"
        super().__init__(f"{msg}. {hint}".strip() if hint else msg)


class GenerationCancelled(RuntimeError):
    """Raised inside generation when its cancel event is set (the caller went away)."""


class LLMUnavailable(RuntimeError):
    """A served LLM could not answer (unreachable, too slow, an error status). The message names
    why without addresses or keys, so the pipelines may show it in an answer's note."""


def check_sampling(max_new_tokens: int, top_p: float) -> None:
    """Raise ValueError naming `max_new_tokens` or `top_p` when it is out of range (every TextGenerator)."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def llm_failure(exc: Exception) -> str:
    """Why a generation failed, for an answer's note: a served LLM's own reason, else the error's type."""
    return str(exc) if isinstance(exc, LLMUnavailable) else type(exc).__name__


class ClipEncoder(Protocol):
    """Text and images into one space of L2-normalised float32 vectors."""

    dim: int
    model_id: str

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) unit rows."""
        ...

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) unit rows; images are RGB PIL images of any size."""
        ...


class TextGenerator(Protocol):
    """A causal LM that completes a prompt (Dolly-style or through its chat template)."""

    model_id: str

    def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int,
        top_p: float,
        seed: int,
        cancel: threading.Event | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> str:
        """The completion only (not the prompt), cut at the stop marker, stripped; `on_text` gets the
        words as they are written (engine/models/streaming.py). Pipelines pass it only when streaming."""
        ...


class ImageGenerator(Protocol):
    """A text-to-image diffusion pipeline (SD 1.x family)."""

    model_id: str
    supports_fast: bool

    def truncate_prompt(self, prompt: str) -> str:
        """The prompt cut to the text encoder's token limit (77 for SD 1.x), as text."""
        ...

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
        """One RGB image (unstamped); raises GenerationCancelled when `cancel` is set."""
        ...
