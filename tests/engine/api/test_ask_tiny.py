"""POST /v1/ask with the real tiny LLM behind the engine, over a loopback socket.

The tiny LLM is random-ish: whatever it writes, what reaches the client must obey the contract —
citations only within 1…k and mapped to the right ids, otherwise the numbered captions.
"""

from __future__ import annotations

import re

import httpx
import pytest

from engine.api.app import create_app
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
