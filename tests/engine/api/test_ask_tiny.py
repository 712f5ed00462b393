"""POST /v1/ask with the real tiny LLM behind the engine, over a loopback socket.

The tiny LLM is random-ish: whatever it writes, what reaches the client must obey the contract —
citations only within 1…k and mapped to the right ids, otherwise the numbered captions.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from engine.api.app import create_app
from engine.api.sse import parse_events
from engine.batching.models import batched
from engine.models.base import Prompt
from engine.pipelines.citations import check_citations
from engine.pipelines.prompts import dolly_prompt
from engine.runtime import EngineRuntime
from engine.tiny.demo_atlas import demo_pairs

from .helpers import indexed_demo_atlas, serving, settings_for

pytestmark = pytest.mark.slow  # the tiny models and the demo atlas


@pytest.fixture(scope="module")
def engine(tmp_path_factory, clip_encoder, tiny_llm, demo_atlas_dir):
    data_dir = tmp_path_factory.mktemp("engine")
    store = indexed_demo_atlas(data_dir, demo_atlas_dir, clip_encoder)
    settings = settings_for(data_dir, llm_max_new_tokens=24)
    runtime = EngineRuntime.from_components(settings, clip=clip_encoder, store=store, llm=tiny_llm)
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client
    store.close()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_whatever_the_tiny_llm_writes_the_answer_obeys_the_contract(engine, demo_atlas_dir, seed):
    pairs = demo_pairs(demo_atlas_dir)[seed * 3 : seed * 3 + 3]
    ids = [roco_id for roco_id, _, _ in pairs]
    body = engine.post("/v1/ask", json={"question": "Where is the lesion?", "context_ids": ids, "seed": seed}).json()
    assert [s["id"] for s in body["sources"]] == ids
    assert all(ids[c["n"] - 1] == c["id"] for c in body["citations"])
    if body["grounded"]:
        assert body["citations"]
        assert {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])} <= {1, 2, 3}
    else:
        assert body["citations"] == [] and body["notes"]
        assert body["answer"] == "\n".join(f"[{n}] {caption}" for n, (_, caption, _) in enumerate(pairs, 1))
    again = engine.post("/v1/ask", json={"question": "Where is the lesion?", "context_ids": ids, "seed": seed})
    assert again.json()["answer"] == body["answer"]


def _events(client, path: str, body: dict) -> list:
    with client.stream("POST", path, json=body, headers={"Accept": "text/event-stream"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_events(response.read().decode())


def test_the_tiny_llms_words_stream_as_token_events_and_add_up_to_what_the_result_checked(engine):
    wrote = 0
    for seed in range(6):  # the tiny LLM sometimes writes nothing at all for a seed
        events = _events(engine, "/v1/search", {"query": "round lesion in the lung", "k": 3, "seed": seed})
        result = events[-1][1]
        written = "".join(data["text"] for name, data in events if name == "token")
        wrote += bool(written.strip())
        if result["enriched"] is not None:  # the explanation is the streamed words, citations checked
            assert check_citations(written, len(result["context_ids"])).text == result["enriched"]
        else:
            assert not any(c.isalpha() for c in written)
        # an ask streams too: tokens first, then the checked answer
        ids = result["context_ids"]
        events = _events(engine, "/v1/ask", {"question": "Where is it?", "context_ids": ids, "seed": seed, "history": [
            {"question": "What is it?", "answer": "A round lesion [1]."}]})
        names = [name for name, _ in events]
        assert names[-1] == "result" and all(name in ("queued", "token") for name in names[:-1])
        answer = events[-1][1]
        if answer["grounded"]:
            streamed = "".join(data["text"] for name, data in events if name == "token")
            assert check_citations(streamed, len(ids)).text == answer["answer"]
    assert wrote, "the tiny LLM wrote nothing for any seed: the test would prove little"


def test_batched_rows_stream_their_own_words_only(tiny_llm):
    # two generations sharing one sampling loop: each listener hears exactly its own completion
    llm = batched("llm", tiny_llm, window_ms=200, max_size=4)
    prompts = [Prompt(dolly_prompt(f"Explain the condition '{q}' concisely.")) for q in ("lesion", "fracture")]
    heard: list[list[str]] = [[], []]
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(llm.generate, p, max_new_tokens=24, top_p=0.9, seed=n, on_text=heard[n].append)
                       for n, p in enumerate(prompts)]
            written = [f.result() for f in futures]
    finally:
        llm.close()
    for n in range(2):
        assert "".join(heard[n]).strip() == written[n]
        assert written[n] == tiny_llm.generate(prompts[n], max_new_tokens=24, top_p=0.9, seed=n)
