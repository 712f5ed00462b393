"""The tiny GPT-NeoX through load_llm: seeded sampling, the "### End" stop, cancellation."""

from __future__ import annotations

import threading

import pytest

from engine.models.base import GenerationCancelled, Prompt
from engine.models.llm import END_KEY, load_llm
from engine.tiny.llm import INTRO

PROMPT = Prompt(
    f"{INTRO}\n\n### Instruction:\nExplain the condition 'bright round lesion' concisely using these "
    "findings: Axial CT scan showing a bright round lesion in the upper left of the image.\n\n### Response:\n"
)


@pytest.fixture
def forward_calls(tiny_llm, monkeypatch):
    """Counts the model's forward passes (one per generated token)."""
    calls = []
    original = tiny_llm.model.forward

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_llm.model, "forward", counting)
    return calls


def test_the_same_seed_gives_the_same_text(tiny_llm):
    first = tiny_llm.generate(PROMPT, max_new_tokens=40, top_p=0.92, seed=3)
    assert tiny_llm.generate(PROMPT, max_new_tokens=40, top_p=0.92, seed=3) == first


def test_different_seeds_give_different_texts(tiny_llm):
    texts = {tiny_llm.generate(PROMPT, max_new_tokens=40, top_p=0.92, seed=seed) for seed in range(4)}
    assert len(texts) >= 2


def test_concurrent_calls_stay_reproducible(tiny_llm):
    expected = {seed: tiny_llm.generate(PROMPT, max_new_tokens=30, top_p=0.92, seed=seed) for seed in (0, 2)}
    results: dict[int, str] = {}
    threads = [
        threading.Thread(
            target=lambda s=seed: results.__setitem__(
                s, tiny_llm.generate(PROMPT, max_new_tokens=30, top_p=0.92, seed=s)
            )
        )
        for seed in (0, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


def test_generation_stops_at_the_end_marker_and_returns_only_new_text(tiny_llm, forward_calls):
    text = tiny_llm.generate(PROMPT, max_new_tokens=200, top_p=0.92, seed=0)
    assert END_KEY not in text and "###" not in text
    assert INTRO not in text  # the prompt is not echoed
    assert 0 < len(forward_calls) < 100  # stopped at "### End", long before max_new_tokens


def test_a_set_cancel_event_stops_generation_at_once(tiny_llm, forward_calls):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        tiny_llm.generate(PROMPT, max_new_tokens=200, top_p=0.92, seed=0, cancel=cancel)
    assert len(forward_calls) <= 2


def test_max_new_tokens_is_respected(tiny_llm, forward_calls):
    tiny_llm.generate(PROMPT, max_new_tokens=3, top_p=0.92, seed=0)
    assert len(forward_calls) <= 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_new_tokens": 0, "top_p": 0.9}, "max_new_tokens"), ({"max_new_tokens": 5, "top_p": 0.0}, "top_p")],
)
def test_bad_generation_settings_name_the_argument(tiny_llm, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_llm.generate(PROMPT, seed=0, **kwargs)


def test_a_prompt_longer_than_the_context_names_the_limit(tiny_llm):
    with pytest.raises(ValueError, match="context of 1024 tokens"):
        tiny_llm.generate(Prompt("lesion " * 2000), max_new_tokens=10, top_p=0.9, seed=0)


def test_the_tiny_llm_loads_from_its_directory_through_load_llm(tiny_paths):
    generator = load_llm(tiny_paths.llm, device="cpu", dtype="fp32", load_8bit="auto")
    assert generator.model.config.model_type == "gpt_neox"
    assert generator.model_id == tiny_paths.llm
    assert generator.tokenizer.convert_tokens_to_ids(END_KEY) != generator.tokenizer.unk_token_id


def test_8bit_on_a_cpu_is_refused_with_the_reason(tiny_paths):
    with pytest.raises(ValueError, match="needs a CUDA device"):
        load_llm(tiny_paths.llm, device="cpu", load_8bit="on")
