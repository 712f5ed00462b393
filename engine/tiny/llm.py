"""The tiny LLM: a 2-layer GPT-NeoX (Dolly's family) with a BPE tokenizer trained on the demo captions.

It is trained for a few seconds on Dolly-format examples built from the demo captions, just enough to
answer in caption-like words and then write "### End", so generation and its stop marker can be
tested. Saved with save_pretrained and loaded back through `load_llm`, like Dolly.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
PAD = "<|padding|>"
DOLLY_SPECIAL = ["### End", "### Instruction:", "### Response:"]
INTRO = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
MODEL_CFG = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "max_position_embeddings": 1024,
    "rotary_pct": 0.25,
    "tie_word_embeddings": False,
}
TOKENIZER_CFG = {"vocab_size": 512}
TRAIN_CFG: dict[str, Any] = {"steps": 60, "batch_size": 8, "lr": 3e-3, "seed": 0}


def build_tiny_llm(out_dir: Path, captions: list[str]) -> None:
    """Build tokenizer and model from `captions`, train briefly, save both in `out_dir`."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    rng = random.Random(TRAIN_CFG["seed"])
    examples = [_dolly_example(rng, captions) for _ in range(256)]
    tokenizer = build_tokenizer([*captions, *examples])
    torch.manual_seed(TRAIN_CFG["seed"])
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.convert_tokens_to_ids(EOS),
        eos_token_id=tokenizer.convert_tokens_to_ids(EOS),
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD),
        **MODEL_CFG,
    )
    model = GPTNeoXForCausalLM(config)
    _train(model, tokenizer, examples)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def build_tokenizer(texts: list[str]):
    """A byte-level BPE fast tokenizer with GPT-NeoX's end token and Dolly's special markers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_CFG["vocab_size"],
        special_tokens=[EOS, PAD, *DOLLY_SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=EOS,
        bos_token=EOS,
        unk_token=EOS,
        pad_token=PAD,
        additional_special_tokens=DOLLY_SPECIAL,
        model_max_length=MODEL_CFG["max_position_embeddings"],
    )


def _dolly_example(rng: random.Random, captions: list[str]) -> str:
    findings = rng.sample(captions, k=rng.randint(1, 3))
    words = findings[0].rstrip(".").split()
    query = " ".join(words[-rng.randint(3, 6) :])
    instruction = f"Explain the condition '{query}' concisely using these findings: {' '.join(findings)}"
    answer = rng.choice(findings)
    return f"{INTRO}\n\n### Instruction:\n{instruction}\n\n### Response:\n{answer}\n\n### End"


def _train(model, tokenizer, examples: list[str]) -> None:
    """Plain next-token training on the examples (pad positions ignored)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=TRAIN_CFG["lr"])
    generator = torch.Generator().manual_seed(TRAIN_CFG["seed"])
    model.train()
    for _ in tqdm(range(TRAIN_CFG["steps"]), desc="training tiny LLM", leave=False):
        idx = torch.randperm(len(examples), generator=generator)[: TRAIN_CFG["batch_size"]].tolist()
        batch = tokenizer([examples[i] for i in idx], return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    log.info("tiny LLM trained, final loss %.2f", loss.item())
    model.eval()
