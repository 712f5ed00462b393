"""Prompt format: a tokenizer with a chat template is prompted through it; without one, Dolly's format.

The chat model is the tiny LLM with a chat template set on its tokenizer and saved again, then loaded
through the same `load_llm` as every LLM, so the decision is made exactly as for Qwen or Llama.
"""

from __future__ import annotations

import shutil

import pytest

from engine.models.llm import load_llm
from engine.pipelines.ask import AskPipeline
from engine.pipelines.prompts import SYSTEM, ask_instruction, dolly_prompt, render_prompt
from engine.pipelines.retrieval import Retriever
from engine.pipelines.search import SearchPipeline

from .fakes import RecordingLLM

pytestmark = pytest.mark.slow  # uses the tiny models

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
NO_SYSTEM_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _with_template(source, target, template: str):
    from transformers import AutoTokenizer

    shutil.copytree(source, target)
    tokenizer = AutoTokenizer.from_pretrained(target)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(target)
    return load_llm(str(target), device="cpu")


@pytest.fixture(scope="module")
def chat_llm(tiny_paths, tmp_path_factory):
    return _with_template(tiny_paths.llm, tmp_path_factory.mktemp("chat") / "llm", CHAT_TEMPLATE)


def test_without_a_chat_template_the_prompt_is_dollys(tiny_llm):
    assert tiny_llm.chat_prompt([{"role": "user", "content": "hi"}]) is None
    prompt = render_prompt(tiny_llm, "Say hello.")
    assert prompt.text == dolly_prompt("Say hello.")
    assert prompt.messages == ({"role": "system", "content": SYSTEM}, {"role": "user", "content": "Say hello."})


def test_with_a_chat_template_the_prompt_is_the_templates_rendering(chat_llm):
    prompt = render_prompt(chat_llm, "Say hello.").text
    assert prompt == f"<|endoftext|><|system|>\n{SYSTEM}\n<|user|>\nSay hello.\n<|assistant|>\n"
    assert "### Instruction:" not in prompt


def test_the_ask_prompt_goes_through_the_template_with_the_numbered_captions(chat_llm, demo_store, demo_captions):
    ids = list(demo_captions)[5:8]
    llm = RecordingLLM(chat_llm)
    first = AskPipeline(demo_store, llm, max_new_tokens=12)("What shape is the lesion?", ids, seed=2)
    again = AskPipeline(demo_store, llm, max_new_tokens=12)("What shape is the lesion?", ids, seed=2)
    instruction = ask_instruction("What shape is the lesion?", [demo_captions[i] for i in ids])
    assert llm.prompts[0] == f"<|endoftext|><|system|>\n{SYSTEM}\n<|user|>\n{instruction}\n<|assistant|>\n"
    for n, atlas_id in enumerate(ids, 1):
        assert f"[{n}] {demo_captions[atlas_id]}" in llm.prompts[0]
    assert (first.answer, first.citations) == (again.answer, again.citations)  # seeded through the template too


def test_search_enrichment_uses_the_same_template(chat_llm, clip_encoder, demo_store, demo_captions):
    llm = RecordingLLM(chat_llm)
    search = SearchPipeline(clip_encoder, Retriever(demo_store, dedup_threshold=0.985), llm, max_new_tokens=8)
    result = search(next(iter(demo_captions.values())), k=3, seed=1)
    assert result.prompt.text == llm.prompts[0]
    assert llm.prompts[0].startswith(f"<|endoftext|><|system|>\n{SYSTEM}\n<|user|>\nExplain the condition '")
    assert llm.prompts[0].endswith("<|assistant|>\n")
    for hit in result.context:
        assert hit.payload.caption in llm.prompts[0]


def test_a_template_without_a_system_role_gets_the_system_text_in_the_user_turn(tiny_paths, tmp_path):
    llm = _with_template(tiny_paths.llm, tmp_path / "llm", NO_SYSTEM_TEMPLATE)
    prompt = render_prompt(llm, "Say hello.").text
    assert prompt == f"<start_of_turn>user\n{SYSTEM}\n\nSay hello.<end_of_turn>\n<start_of_turn>model\n"
