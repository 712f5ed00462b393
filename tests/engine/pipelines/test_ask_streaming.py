"""Streaming an answer's words (issue 18, part 2): what `TextStream` hands on from a growing completion,
and that a listener can never change or stop what the LLM writes."""

from __future__ import annotations

import pytest

from engine.models.base import Prompt
from engine.models.streaming import TextStream
from engine.pipelines.prompts import dolly_prompt


def _fed(*versions: str) -> list[str]:
    heard: list[str] = []
    stream = TextStream(heard.append)
    for version in versions:
        stream.update(version)
    return heard


def test_each_version_hands_on_only_what_it_adds_without_leading_spaces():
    assert _fed("\n", "\n The", "\n The lesion", "\n The lesion is round.") == ["The", " lesion", " is round."]


def test_a_tail_that_may_become_the_stop_marker_waits_and_the_marker_ends_the_stream():
    heard = _fed("Round [1] #", "Round [1] ##", "Round [1] ### E", "Round [1] ### End", "Round [1] ### End more")
    assert "".join(heard) == "Round [1] " and all("#" not in h for h in heard)
    assert _fed("Stage #", "Stage #3 tumour") == ["Stage ", "#3 tumour"]  # not the marker after all


def test_a_character_split_across_tokens_waits_for_its_other_half():
    assert _fed("Größe \ufffd", "Größe 5 mm") == ["Größe ", "5 mm"]


def test_a_listener_that_fails_is_dropped_without_a_word_more():
    calls: list[str] = []

    def broken(text: str) -> None:
        calls.append(text)
        raise RuntimeError("the client went away")

    stream = TextStream(broken)
    stream.update("one")
    stream.update("one two")
    assert calls == ["one"]


@pytest.mark.slow
def test_a_failing_listener_changes_nothing_the_tiny_llm_writes(tiny_llm):
    prompt = Prompt(dolly_prompt("Explain the condition 'round lesion' concisely."))

    def broken(_text: str) -> None:
        raise RuntimeError("boom")

    for seed in range(4):
        alone = tiny_llm.generate(prompt, max_new_tokens=24, top_p=0.9, seed=seed)
        heard: list[str] = []
        assert tiny_llm.generate(prompt, max_new_tokens=24, top_p=0.9, seed=seed, on_text=broken) == alone
        assert tiny_llm.generate(prompt, max_new_tokens=24, top_p=0.9, seed=seed, on_text=heard.append) == alone
        assert "".join(heard).strip() == alone
