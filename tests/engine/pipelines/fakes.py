"""Small fakes of the model Protocols and the store ABC, for fast pipeline unit tests.

They only stand in where a real tiny model would make an assertion impossible (e.g. to control
exactly what the LLM writes); the same behaviours are also tested on the real tiny models.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from engine.models.base import GenerationCancelled, ProgressCallback
from engine.store.base import AtlasPayload, AtlasRecord, AtlasStore, SearchParams, StoredHit, as_unit_rows

DIM = 32


def word_vector(word: str) -> np.ndarray:
    """A fixed random direction per word."""
    rng = np.random.default_rng(zlib.crc32(word.lower().encode()))
    return rng.standard_normal(DIM).astype(np.float32)


class BagOfWordsClip:
    """Text → sum of word directions, images → a projection of their pixels; unit rows."""

    dim = DIM
    model_id = "fake-clip"

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._projection = np.random.default_rng(7).standard_normal((8 * 8 * 3, DIM)).astype(np.float32)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        rows = [sum((word_vector(w) for w in t.replace(".", " ").split()), np.zeros(DIM, np.float32)) for t in texts]
        return as_unit_rows(rows)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = [np.asarray(im.convert("RGB").resize((8, 8)), np.float32).reshape(-1) / 255 - 0.5 for im in images]
        return as_unit_rows(np.stack(rows) @ self._projection)


class MemoryStore(AtlasStore):
    """Exact cosine search over a NumPy matrix; records every search call."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.records: dict[str, AtlasRecord] = {}
        self.calls: list[dict] = []

    def upsert(self, records: Sequence[AtlasRecord]) -> None:
        for r in records:
            self.records[r.payload.atlas_id] = AtlasRecord(as_unit_rows(r.vector)[0], r.payload)

    def search(self, vector, k, *, modality=None, params: SearchParams | None = None, with_vectors=False):
        self.calls.append({"vector": np.asarray(vector), "k": k, "modality": modality})
        pool = [r for r in self.records.values() if modality is None or r.payload.modality == modality]
        scored = sorted(pool, key=lambda r: -float(r.vector @ vector))[:k]
        return [
            StoredHit(r.payload.atlas_id, float(r.vector @ vector), r.payload, r.vector if with_vectors else None)
            for r in scored
        ]

    def retrieve(self, atlas_ids, *, with_vectors=False):
        return [
            StoredHit(i, 1.0, self.records[i].payload, self.records[i].vector if with_vectors else None)
            for i in atlas_ids if i in self.records
        ]

    def image(self, atlas_id):
        return None

    def existing_ids(self, atlas_ids):
        return {i for i in atlas_ids if i in self.records}

    def count(self, *, modality=None):
        return sum(1 for r in self.records.values() if modality is None or r.payload.modality == modality)

    def scroll(self, batch_size=256, *, with_images=True) -> Iterator[list[AtlasRecord]]:
        yield list(self.records.values())

    def optimize(self) -> None:
        pass

    def close(self) -> None:
        pass


def atlas_of(captions: dict[str, str], clip: BagOfWordsClip, modality: str = "x-ray") -> MemoryStore:
    """A MemoryStore whose vectors are the captions' own text embeddings."""
    store = MemoryStore()
    vectors = clip.encode_text(list(captions.values()))
    store.upsert([
        AtlasRecord(v, AtlasPayload(atlas_id=i, caption=c, modality=modality, pmc_id=f"PMC{n}", licence="CC BY"))
        for n, ((i, c), v) in enumerate(zip(captions.items(), vectors, strict=True))
    ])
    clip.texts.clear()
    return store


class ScriptedLLM:
    """Answers with `reply(prompt text)`; records every call with the text a model would read."""

    model_id = "fake-llm"

    def __init__(self, reply: Callable[[str], str] | str = "an explanation") -> None:
        self.reply = reply if callable(reply) else (lambda _p, text=reply: text)
        self.calls: list[dict] = []

    def generate(self, prompt, *, max_new_tokens, top_p, seed, cancel=None, on_text=None) -> str:
        self.calls.append({"prompt": prompt.text, "max_new_tokens": max_new_tokens, "top_p": top_p, "seed": seed})
        text = self.reply(prompt.text)
        if on_text is not None:  # streamed a word at a time, as a model writes it
            for word in re.findall(r"\S+\s*", text):
                on_text(word)
        return text


class RecordingLLM:
    """A generator at the TextGenerator edge that remembers the text of each prompt (what the model reads) and
    offers the model's chat template (a model without one gets Dolly's format)."""

    def __init__(self, llm) -> None:
        self.llm, self.model_id = llm, llm.model_id
        self.prompts: list[str] = []

    def chat_prompt(self, messages):
        return self.llm.chat_prompt(messages)

    def generate(self, prompt, *, max_new_tokens, top_p, seed, cancel=None, on_text=None) -> str:
        self.prompts.append(prompt.text)  # what the model reads
        streaming = {"on_text": on_text} if on_text is not None else {}
        return self.llm.generate(
            prompt, max_new_tokens=max_new_tokens, top_p=top_p, seed=seed, cancel=cancel, **streaming
        )


class NoiseDiffusion:
    """A 'diffusion model' drawing seeded noise in `steps` steps, honouring cancel between steps.

    With a `gate`, each generation waits for the gate to open before its first step (to hold the
    queue's worker busy in tests).
    """

    model_id = "fake-diffusion"
    supports_fast = True

    def __init__(self, size: int = 64, step_delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.size, self.step_delay, self.gate = size, step_delay, gate
        self.calls: list[dict] = []
        self.steps_run = 0
        self.cancelled = 0
        self.started = threading.Event()

    def truncate_prompt(self, prompt: str) -> str:
        return " ".join(prompt.split()[:75])

    def generate(self, prompt, *, seed, steps, guidance, fast=False, on_step: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> Image.Image:
        self.calls.append({"prompt": prompt, "seed": seed, "steps": steps, "guidance": guidance, "fast": fast})
        self.started.set()
        while self.gate is not None and not self.gate.wait(0.01):
            if cancel is not None and cancel.is_set():
                break
        for step in range(1, steps + 1):
            if cancel is not None and cancel.is_set():
                self.cancelled += 1
                raise GenerationCancelled(f"cancelled after {step - 1} steps")
            if self.step_delay:
                threading.Event().wait(self.step_delay)
            self.steps_run += 1
            if on_step is not None:
                on_step(step, steps)
        rng = np.random.default_rng(seed)
        return Image.fromarray(rng.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8), "RGB")
