"""The LLM served apart, against a real OpenAI-compatible server: `transformers serve` on loopback
serving copies of the tiny LLM (tests/openai_server.py), and a byte-moving proxy for the faults.

What the engine gets back must be what the served model writes for the seed: each answer is
compared with the same model sampled in this process with the same seed and parameters.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from engine.config import EngineSettings
from engine.models.base import GenerationCancelled, LLMUnavailable, Prompt
from engine.models.remote_llm import RemoteLLM, api_base_url, connect_remote_llm
from engine.pipelines.prompts import SYSTEM, dolly_prompt, explain_instruction, render_prompt
from tests.openai_server import LoopbackProxy, free_port, served_copies, transformers_serve

pytestmark = pytest.mark.slow  # a transformers server process and the tiny LLM
MAX_NEW_TOKENS, TOP_P = 24, 0.92
INSTRUCTION = explain_instruction("round lesion", ["CT scan showing a bright round lesion in the upper left."])


@pytest.fixture(scope="module")
def models(tiny_paths, tmp_path_factory):
    """(plain, chat) copies of the tiny LLM as the server hosts them."""
    return served_copies(tiny_paths.llm, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    with transformers_serve(tmp_path_factory.mktemp("serve-log") / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def upstream(server):
    host, port = server.removeprefix("http://").split(":")
    return host, int(port)


def local_sample(model_dir, text: str, seed: int) -> str:
    """What the model writes after `text` for `seed`, sampled here as the server samples (torch's
    seeded generator, top-p, temperature 1), cut at "### End" like the engine does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer(text, return_tensors="pt")
    torch.manual_seed(seed)
    out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=True, top_p=TOP_P, temperature=1.0,
                         stop_strings=["### End"], tokenizer=tokenizer)
    written = tokenizer.decode(out[0, inputs.input_ids.shape[1]:]).split("### End")[0]
    for special in tokenizer.all_special_tokens:
        written = written.replace(special, "")
    return written.strip()


def test_a_model_without_chat_template_is_asked_in_dollys_format_and_answers_as_sampled_here(server, models):
    plain, _ = models
    llm = connect_remote_llm(server, model=str(plain), timeout_s=60)
    try:
        assert llm.api == "completions"
        prompt = render_prompt(llm, INSTRUCTION)
        assert prompt.text == dolly_prompt(INSTRUCTION)
        path, body = llm.request_body(prompt, max_new_tokens=MAX_NEW_TOKENS, top_p=TOP_P, seed=0)
        assert path == "/completions" and body["prompt"] == dolly_prompt(INSTRUCTION) and "messages" not in body
        answers = {seed: llm.generate(prompt, max_new_tokens=MAX_NEW_TOKENS, top_p=TOP_P, seed=seed)
                   for seed in range(6)}
        assert answers == {seed: local_sample(plain, prompt.text, seed) for seed in range(6)}
        assert any(answers.values()), "every seed wrote nothing: the comparison would prove little"
        assert llm.generate(prompt, max_new_tokens=MAX_NEW_TOKENS, top_p=TOP_P, seed=2) == answers[2]
    finally:
        llm.close()


def test_a_model_with_chat_template_gets_the_messages_through_the_servers_template(server, models):
    _, chat = models
    llm = connect_remote_llm(server, model=str(chat), timeout_s=60)
    try:
        assert llm.api == "chat"
        prompt = render_prompt(llm, INSTRUCTION)
        path, body = llm.request_body(prompt, max_new_tokens=MAX_NEW_TOKENS, top_p=TOP_P, seed=0)
        assert path == "/chat/completions" and "prompt" not in body
        assert body["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": INSTRUCTION}]
        assert body["stop"] == ["### End"] and body["seed"] == 0 and body["max_tokens"] == MAX_NEW_TOKENS
        # the template renders Dolly's format, which the tiny model was trained on
        from transformers import AutoTokenizer

        rendered = AutoTokenizer.from_pretrained(chat).apply_chat_template(
            body["messages"], tokenize=False, add_generation_prompt=True)
        assert rendered == dolly_prompt(INSTRUCTION)
        answers = {seed: llm.generate(prompt, max_new_tokens=MAX_NEW_TOKENS, top_p=TOP_P, seed=seed)
                   for seed in range(6)}
        assert answers == {seed: local_sample(chat, rendered, seed) for seed in range(6)}
        assert any(answers.values())
    finally:
        llm.close()


def test_chat_forced_on_a_model_without_template_fails_at_start_naming_the_servers_500(server, models):
    plain, _ = models
    with pytest.raises(LLMUnavailable, match=r"^the LLM server answered HTTP 500 for chat completions$"):
        connect_remote_llm(server, model=str(plain), api="chat", timeout_s=60)


def test_a_server_that_is_down_at_start_is_named_as_refusing():
    with pytest.raises(LLMUnavailable, match=r"^could not reach the LLM server \(connection refused\)$"):
        connect_remote_llm(f"http://127.0.0.1:{free_port()}", model="any", timeout_s=5)


def test_a_server_that_goes_down_after_start_is_named_as_refusing(server, models, upstream):
    plain, _ = models
    proxy = LoopbackProxy(upstream)
    llm = connect_remote_llm(proxy.url, model=str(plain), api="completions", timeout_s=60)
    try:
        proxy.stop()
        with pytest.raises(LLMUnavailable, match=r"^could not reach the LLM server \(connection refused\)$"):
            llm.generate(Prompt(dolly_prompt(INSTRUCTION)), max_new_tokens=4, top_p=TOP_P, seed=0)
    finally:
        llm.close()


def test_a_slow_server_times_out_naming_the_timeout(server, models, upstream):
    plain, _ = models
    proxy = LoopbackProxy(upstream, delay_s=8)
    llm = RemoteLLM(api_base_url(proxy.url), model=str(plain), api="completions", timeout_s=1)
    try:
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match=r"did not answer within 1 s \(MIRAGE_LLM_TIMEOUT_S\)"):
            llm.generate(Prompt(dolly_prompt(INSTRUCTION)), max_new_tokens=4, top_p=TOP_P, seed=0)
        assert time.monotonic() - started < 4
        # at start, the same timeout is the LLM's failed readiness
        with pytest.raises(LLMUnavailable, match=r"did not answer within 1 s"):
            connect_remote_llm(proxy.url, model=str(plain), timeout_s=1)
    finally:
        llm.close()
        proxy.stop()


def test_a_gateway_answering_503_is_named_with_its_status(upstream, models):
    plain, _ = models
    proxy = LoopbackProxy(upstream, status=503)
    llm = RemoteLLM(api_base_url(proxy.url), model=str(plain), api="completions", timeout_s=10)
    try:
        with pytest.raises(LLMUnavailable, match=r"^the LLM server answered HTTP 503$"):
            llm.generate(Prompt(dolly_prompt(INSTRUCTION)), max_new_tokens=4, top_p=TOP_P, seed=0)
    finally:
        llm.close()
        proxy.stop()


def test_cancelling_closes_the_request(upstream, models):
    plain, _ = models
    proxy = LoopbackProxy(upstream, delay_s=20)
    llm = RemoteLLM(api_base_url(proxy.url), model=str(plain), api="completions", timeout_s=60)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    try:
        started = time.monotonic()
        with pytest.raises(GenerationCancelled):
            llm.generate(Prompt(dolly_prompt(INSTRUCTION)), max_new_tokens=4, top_p=TOP_P, seed=0, cancel=cancel)
        assert time.monotonic() - started < 2
        deadline = time.monotonic() + 5
        while proxy.hangups < 1:  # the connection really closed: the server is not left generating
            assert time.monotonic() < deadline, "the proxy never saw the client hang up"
            time.sleep(0.05)
    finally:
        llm.close()
        proxy.stop()


def test_the_url_setting_is_checked_and_completed():
    with pytest.raises(ValueError, match="MIRAGE_LLM_URL: must be an http:// or https:// URL"):
        EngineSettings(_env_file=None, llm_url="ftp://llm:8000")
    assert EngineSettings(_env_file=None, llm_url="").llm_url is None
    assert api_base_url("http://llm:8000") == "http://llm:8000/v1"
    assert api_base_url("https://llm.example/openai/v1/") == "https://llm.example/openai/v1"
