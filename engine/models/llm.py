"""The LLM through transformers: a causal LM (Dolly by default) that completes a prompt, seeded.

8-bit weights (bitsandbytes) on CUDA by default, bf16/fp32 on CPU. Generation samples with top-p,
stops at Dolly's "### End" marker, and can be cancelled between tokens.
"""

from __future__ import annotations

import logging
import threading

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from engine.models.device import is_cuda, resolve_device, resolve_dtype
from engine.models.hub import (
    local_path,
    looked_in,
    missing_weights_as_error,
    require_hub_files,
    require_local_files,
)

log = logging.getLogger(__name__)

ROLE = "LLM"
END_KEY = "### End"
WEIGHT_FILES = ("*.safetensors", "*.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")


class StopOnText(StoppingCriteria):
    """Stop once the generated tail decodes to text containing `stop` (works whether or not it is one token)."""

    def __init__(self, tokenizer, stop: str, prompt_len: int) -> None:
        self.tokenizer, self.stop, self.prompt_len = tokenizer, stop, prompt_len
        self.window = len(tokenizer(stop, add_special_tokens=False).input_ids) + 2

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        tails = input_ids[:, max(self.prompt_len, input_ids.shape[1] - self.window) :]
        done = [self.stop in text for text in self.tokenizer.batch_decode(tails)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class StopOnEvent(StoppingCriteria):
    """Stop as soon as `event` is set (the caller went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


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
        # torch's RNG is process-global: seeding and sampling must happen together for reproducibility
        self._lock = threading.Lock()

    def generate(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        top_p: float,
        seed: int,
        cancel: threading.Event | None = None,
    ) -> str:
        """Sample a completion of `prompt` (the new text only, cut at "### End", stripped)."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        inputs = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        prompt_len = inputs["input_ids"].shape[1]
        if prompt_len + max_new_tokens > self.context_length:
            raise ValueError(
                f"prompt is {prompt_len} tokens; with max_new_tokens={max_new_tokens} it exceeds the "
                f"model's context of {self.context_length} tokens"
            )
        stops = [StopOnText(self.tokenizer, END_KEY, prompt_len)]
        if cancel is not None:
            stops.append(StopOnEvent(cancel))
        with self._lock, torch.inference_mode():
            torch.manual_seed(seed)
            output = self.model.generate(
                **inputs,
                do_sample=True,
                top_p=top_p,
                top_k=0,
                max_new_tokens=max_new_tokens,
                stopping_criteria=StoppingCriteriaList(stops),
                pad_token_id=self._pad_token_id,
            )
        text = self.tokenizer.decode(output[0, prompt_len:], skip_special_tokens=False)
        text = text.split(END_KEY, 1)[0]
        for special in self.tokenizer.all_special_tokens:
            text = text.replace(special, "")
        return text.strip()

    def chat_prompt(self, messages: list[dict[str, str]]) -> str | None:
        """`messages` through the tokenizer's chat template, ready for `generate`; None when it has none.

        engine/pipelines/prompts.py decides with this: a template → chat format, None → Dolly's format.
        """
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        from jinja2.exceptions import TemplateError

        try:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
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
