"""The LLM through transformers: a causal LM (Dolly by default) that completes a prompt, seeded.

8-bit weights (bitsandbytes) on CUDA by default, bf16/fp32 on CPU. Generation samples with top-p,
stops at Dolly's "### End" marker, can be cancelled between tokens, and can hand its words on as it
writes them (`on_text`, engine/models/streaming.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch

from engine.batching.sampling import RowOutcome, TextRow, sample_rows
from engine.models.base import END_KEY, Message, Prompt, check_sampling
from engine.models.device import is_cuda, resolve_device, resolve_dtype
from engine.models.hub import (
    local_path,
    looked_in,
    missing_weights_as_error,
    require_hub_files,
    require_local_files,
)
from engine.models.streaming import TextHook, TextStream

log = logging.getLogger(__name__)

ROLE = "LLM"
WEIGHT_FILES = ("*.safetensors", "*.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")


class CausalLMGenerator:
    """A transformers causal LM behind the TextGenerator protocol."""

    def __init__(self, model, tokenizer, *, model_id: str, device: str) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self.context_length = int(getattr(model.config, "max_position_embeddings", 2048))
        pad = tokenizer.pad_token_id
        self._pad_token_id = pad if pad is not None else tokenizer.eos_token_id
        eos = model.generation_config.eos_token_id
        self._eos_ids = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        self._stop_window = len(tokenizer(END_KEY, add_special_tokens=False).input_ids) + 2
        self._lock = threading.Lock()  # one sampling loop at a time on the shared model

    def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int,
        top_p: float,
        seed: int,
        cancel: threading.Event | None = None,
        on_text: TextHook | None = None,
    ) -> str:
        """Sample a completion of `prompt.text` (the new text only, cut at "### End", stripped);
        `on_text` gets the new words after each token."""
        row = self.text_row(
            prompt, max_new_tokens=max_new_tokens, top_p=top_p, seed=seed, cancel=cancel, on_text=on_text
        )
        outcome = self.generate_rows([row])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return self.completion_text(outcome)

    def text_row(
        self, prompt: Prompt, *, max_new_tokens: int, top_p: float, seed: int, cancel: threading.Event | None = None,
        on_text: TextHook | None = None,
    ) -> TextRow:
        """`prompt.text` tokenized and checked against the model's context; raises ValueError naming the limit.
        With `on_text`, the row hands on its new words after each token."""
        check_sampling(max_new_tokens, top_p)
        prompt_ids = self.tokenizer(prompt.text).input_ids
        if len(prompt_ids) + max_new_tokens > self.context_length:
            raise ValueError(
                f"prompt is {len(prompt_ids)} tokens; with max_new_tokens={max_new_tokens} it exceeds the "
                f"model's context of {self.context_length} tokens"
            )
        return TextRow(prompt_ids, max_new_tokens, top_p, seed, cancel, self._token_listener(on_text))

    def count_tokens(self, text: str) -> int:
        """How many of this model's tokens `text` takes (no special tokens added)."""
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _token_listener(self, on_text: TextHook | None) -> Callable[[list[int]], None] | None:
        """A row's `on_tokens`: decode the new ids so far and hand on the words they add."""
        if on_text is None:
            return None
        stream = TextStream(on_text)
        specials = [t for t in self.tokenizer.all_special_tokens if t and t != END_KEY]

        def listen(new_ids: list[int]) -> None:
            text = self.tokenizer.decode(new_ids, skip_special_tokens=False)
            for special in specials:
                text = text.replace(special, "")
            stream.update(text)

        return listen

    def generate_rows(
        self,
        rows: list[TextRow],
        on_row_done: Callable[[int, RowOutcome], None] | None = None,
        *,
        admit: Callable[[int], list[TextRow]] | None = None,
        max_rows: int = 0,
        compute: Callable[..., Any] | None = None,
    ) -> list[RowOutcome]:
        """Several prompts in one forward pass per token (engine/batching/sampling.py); a row's tokens
        depend only on its own prompt and seed, not on the other rows. `admit(room)` lets new rows
        join between tokens, up to `max_rows` at once; `compute(fn, ...)` runs each step (a lane)."""
        with self._lock:
            return sample_rows(
                self.model, rows, device=self.device, pad_id=self._pad_token_id, eos_ids=self._eos_ids,
                stopped=self._reached_stop_text, on_row_done=on_row_done, admit=admit, max_rows=max_rows,
                compute=compute,
            )

    def completion_text(self, new_ids: list[int]) -> str:
        """The generated ids as text: cut at "### End", special tokens removed, stripped."""
        text = self.tokenizer.decode(new_ids, skip_special_tokens=False)
        text = text.split(END_KEY, 1)[0]
        for special in self.tokenizer.all_special_tokens:
            text = text.replace(special, "")
        return text.strip()

    def _reached_stop_text(self, new_ids: list[int]) -> bool:
        # decode only the tail: the stop text may span several tokens, or be one special token
        return END_KEY in self.tokenizer.decode(new_ids[-self._stop_window :], skip_special_tokens=False)

    def chat_prompt(self, messages: Sequence[Message]) -> str | None:
        """`messages` through the tokenizer's chat template, as a Prompt's text; None when it has none.

        engine/pipelines/prompts.py decides with this: a template → chat format, None → Dolly's format.
        """
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        from jinja2.exceptions import TemplateError

        try:
            text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        except TemplateError:
            # some templates refuse a system role (Gemma's): fold it into the first user message
            if len(messages) < 2 or messages[0]["role"] != "system":
                raise
            system, first, *rest = messages
            merged = {"role": first["role"], "content": f"{system['content']}\n\n{first['content']}"}
            text = self.tokenizer.apply_chat_template([merged, *rest], tokenize=False, add_generation_prompt=True)
        # generate() tokenizes with the tokenizer's own special tokens: a BOS the template wrote would be doubled
        bos = self.tokenizer.bos_token
        if bos and text.startswith(bos) and self.tokenizer("x").input_ids[:1] == [self.tokenizer.bos_token_id]:
            text = text[len(bos) :]
        return text


def load_llm(
    model_id: str, *, device: str = "auto", dtype: str = "auto", load_8bit: str = "auto"
) -> CausalLMGenerator:
    """Load a causal LM from a hub id or a local directory; `load_8bit` is "auto" (CUDA only), "on" or "off"."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(device)
    torch_dtype = resolve_dtype("llm", device, dtype)
    use_8bit = _use_8bit(load_8bit, device)
    path = local_path(model_id)
    if path is not None:
        require_local_files(ROLE, model_id, path, ["config.json", WEIGHT_FILES, TOKENIZER_FILES])
        source = str(path)
    else:
        require_hub_files(ROLE, model_id, "config.json")
        source = model_id
    kwargs: dict = {"dtype": torch_dtype}
    if use_8bit:
        from transformers import BitsAndBytesConfig

        target = torch.device(device)  # bitsandbytes places the weights itself: name the exact GPU
        if target.index is None:
            target = torch.device("cuda", torch.cuda.current_device())
        kwargs |= {"quantization_config": BitsAndBytesConfig(load_in_8bit=True), "device_map": {"": target}}
    log.info("loading LLM %s on %s (%s%s)", model_id, device, torch_dtype, ", 8-bit" if use_8bit else "")
    with missing_weights_as_error(ROLE, model_id, looked_in(model_id)):
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if not use_8bit:
        model = model.to(device)
    return CausalLMGenerator(model, tokenizer, model_id=model_id, device=device)


def _use_8bit(load_8bit: str, device: str) -> bool:
    if load_8bit not in ("auto", "on", "off"):
        raise ValueError(f"load_8bit must be 'auto', 'on' or 'off', got {load_8bit!r}")
    if load_8bit == "on" and not is_cuda(device):
        raise ValueError(f"load_8bit='on' needs a CUDA device (bitsandbytes), got device={device!r}")
    if load_8bit == "auto" and is_cuda(device):
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            log.warning("bitsandbytes is not installed; loading the LLM without 8-bit quantization")
            return False
    return load_8bit == "on" or (load_8bit == "auto" and is_cuda(device))
