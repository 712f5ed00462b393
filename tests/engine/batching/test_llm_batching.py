"""LLM generations sharing one sampling loop: each keeps the text its seed gives alone (CPU, fp32)."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from engine.batching.models import BatchedTextGenerator
from engine.models.base import GenerationCancelled, Prompt
from engine.tiny.llm import INTRO

from .helpers import forward_hook, together

pytestmark = pytest.mark.slow

FINDINGS = [
    "Axial CT scan showing a bright round lesion in the upper left of the image.",
    "Chest x-ray with a dark wedge-shaped region at the lower right.",
    "MRI of the brain, small bright spot near the centre and a faint ring around it, seen on the left side.",
    "Ultrasound image.",
]
PROMPTS = [
    Prompt(f"{INTRO}\n\n### Instruction:\nExplain the condition concisely using these findings: {f}\n\n### Response:\n")
    for f in FINDINGS
]
SEEDS = [0, 1, 2, 3]
TOKENS = 24


@pytest.fixture
def batched(tiny_llm):
    wrapper = BatchedTextGenerator(tiny_llm, window_s=0.3, max_size=8)
    yield wrapper
    wrapper.close()


def alone(tiny_llm, prompt: Prompt, seed: int) -> str:
    return tiny_llm.generate(prompt, max_new_tokens=TOKENS, top_p=0.92, seed=seed)


def test_prompts_of_different_lengths_in_one_batch_give_the_text_each_gives_alone(tiny_llm, batched):
    lengths = {len(tiny_llm.tokenizer(p.text).input_ids) for p in PROMPTS}
    assert len(lengths) == len(PROMPTS)  # left padding is really exercised
    expected = [alone(tiny_llm, p, s) for p, s in zip(PROMPTS, SEEDS, strict=True)]
    assert len(set(expected)) > 1
    got = together([
        lambda p=p, s=s: batched.generate(p, max_new_tokens=TOKENS, top_p=0.92, seed=s)
        for p, s in zip(PROMPTS, SEEDS, strict=True)
    ])
    assert got == expected
    assert batched.batcher.sizes == {len(PROMPTS): 1}  # they really shared one loop


def test_the_same_prompt_with_different_seeds_keeps_each_seeds_text(tiny_llm, batched):
    expected = [alone(tiny_llm, PROMPTS[0], s) for s in range(5)]
    got = together([
        lambda s=s: batched.generate(PROMPTS[0], max_new_tokens=TOKENS, top_p=0.92, seed=s) for s in range(5)
    ])
    assert got == expected and len(set(got)) > 1


def test_a_request_cancelled_mid_batch_leaves_it_and_its_neighbours_keep_their_text(tiny_llm, batched):
    expected = {s: alone(tiny_llm, PROMPTS[s], s) for s in (0, 2, 3)}
    cancel = threading.Event()
    rows_per_forward: list[int] = []

    def watch(module, args, kwargs, output):
        rows_per_forward.append(kwargs["input_ids"].shape[0])
        if len(rows_per_forward) == 3:  # the client of seed 1 leaves after two tokens
            cancel.set()

    with forward_hook(tiny_llm.model, watch):
        got = together([
            lambda s=s: batched.generate(
                PROMPTS[s], max_new_tokens=TOKENS, top_p=0.92, seed=s, cancel=cancel if s == 1 else None
            )
            for s in SEEDS
        ])
    assert isinstance(got[1], GenerationCancelled)
    assert {s: got[s] for s in (0, 2, 3)} == expected
    assert rows_per_forward[0] == 4 and min(rows_per_forward) < 4  # its row was dropped from the batch


def test_a_row_whose_logits_go_nan_fails_alone(tiny_llm, batched):
    ids = [set(tiny_llm.tokenizer(p.text).input_ids) for p in PROMPTS]
    poison = next(iter(ids[2] - ids[0] - ids[1] - ids[3]))  # a token only the third prompt has
    expected = {s: alone(tiny_llm, PROMPTS[s], s) for s in (0, 1, 3)}

    def nan_rows(module, args, kwargs, output):
        input_ids = args[0] if args else kwargs["input"]
        poisoned = (input_ids == poison).any(-1)
        return output.masked_fill(poisoned[:, None, None], float("nan"))

    with forward_hook(tiny_llm.model.gpt_neox.embed_in, nan_rows):
        got = together([
            lambda s=s: batched.generate(PROMPTS[s], max_new_tokens=TOKENS, top_p=0.92, seed=s) for s in SEEDS
        ])
    assert isinstance(got[2], FloatingPointError) and "non-finite" in str(got[2])
    assert {s: got[s] for s in (0, 1, 3)} == expected


def test_a_prompt_too_long_for_the_context_is_refused_before_it_joins_a_batch(tiny_llm, batched):
    with pytest.raises(ValueError, match="context"):
        batched.generate(Prompt("word " * 2000), max_new_tokens=TOKENS, top_p=0.92, seed=0)
    assert sum(batched.batcher.sizes.values()) == 0


def test_batched_generation_still_stops_at_the_end_marker(tiny_llm, batched):
    texts = together([
        lambda s=s: batched.generate(PROMPTS[0], max_new_tokens=200, top_p=0.92, seed=s) for s in range(3)
    ])
    for text in texts:
        assert isinstance(text, str) and "###" not in text
    with torch.inference_mode():
        assert texts == [tiny_llm.generate(PROMPTS[0], max_new_tokens=200, top_p=0.92, seed=s) for s in range(3)]


def test_a_request_arriving_mid_generation_joins_the_running_loop_and_keeps_its_text(tiny_llm):
    # both run to max_new_tokens with these seeds, so they overlap for many tokens
    first_alone, late_alone = alone(tiny_llm, PROMPTS[0], 2), alone(tiny_llm, PROMPTS[3], 0)
    wrapper = BatchedTextGenerator(tiny_llm, window_s=0.0, max_size=8)
    rows_per_forward: list[int] = []
    late: dict[str, object] = {}

    def late_arrival() -> None:
        late["text"] = wrapper.generate(PROMPTS[3], max_new_tokens=TOKENS, top_p=0.92, seed=0)

    arrival = threading.Thread(target=late_arrival)

    def watch(module, args, kwargs, output):
        rows_per_forward.append(kwargs["input_ids"].shape[0])
        if len(rows_per_forward) == 2:  # the first request is two tokens in: the second one arrives
            arrival.start()
            deadline = time.monotonic() + 30
            while wrapper.batcher.waiting == 0 and time.monotonic() < deadline:
                time.sleep(0.005)  # until it waits for a batch, so the running loop meets it at its next token

    with forward_hook(tiny_llm.model, watch):
        first = wrapper.generate(PROMPTS[0], max_new_tokens=TOKENS, top_p=0.92, seed=2)
        arrival.join(60)
    wrapper.close()
    assert first == first_alone and late["text"] == late_alone
    assert wrapper.batcher.joined == 1 and sum(wrapper.batcher.sizes.values()) == 1  # one loop served both
    assert max(rows_per_forward) == 2


def test_in_fp32_too_each_row_keeps_the_text_it_gets_alone(tiny_paths):
    from engine.models.llm import load_llm

    fp32 = load_llm(tiny_paths.llm, device="cpu", dtype="fp32")
    assert fp32.model.dtype == torch.float32
    expected = [alone(fp32, p, s) for p, s in zip(PROMPTS, SEEDS, strict=True)]
    wrapper = BatchedTextGenerator(fp32, window_s=0.3, max_size=8)
    got = together([
        lambda p=p, s=s: wrapper.generate(p, max_new_tokens=TOKENS, top_p=0.92, seed=s)
        for p, s in zip(PROMPTS, SEEDS, strict=True)
    ])
    wrapper.close()
    assert got == expected and wrapper.batcher.sizes == {len(PROMPTS): 1}
