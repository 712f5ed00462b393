"""POST /v1/quiz with a one-id `item_ids`, as the bot asks a study set's questions (one per image, in the
set's order): whatever the seed, that image is the question and its caption the right choice, the
distractors are other atlas images, and the seed only shuffles the choices. Over a real loopback socket,
on the tiny CLIP and an embedded atlas of the demo images."""

from __future__ import annotations

import httpx
import pytest

from engine.api.app import create_app
from engine.runtime import EngineRuntime

from .helpers import indexed_demo_atlas, serving, settings_for

pytestmark = pytest.mark.slow  # the tiny CLIP and the demo atlas
TOKEN = "quiz-set-items-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SET = ["ROCO_00042", "ROCO_00007", "ROCO_00113"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, clip_encoder, demo_atlas_dir):
    data_dir = tmp_path_factory.mktemp("engine")
    store = indexed_demo_atlas(data_dir, demo_atlas_dir, clip_encoder)
    runtime = EngineRuntime.from_components(settings_for(data_dir, engine_token=TOKEN), clip=clip_encoder, store=store)
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        yield client
    store.close()


@pytest.mark.parametrize("atlas_id", SET)
def test_a_one_id_set_asks_that_image_whatever_the_seed(engine, atlas_id):
    caption = engine.get(f"/v1/atlas/{atlas_id}").json()["caption"]
    orders = set()
    for seed in (0, 1, 977, 123456):
        response = engine.post("/v1/quiz", json={"item_ids": [atlas_id], "seed": seed})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["item"]["id"] == atlas_id and body["pool_size"] == 1 and body["notes"] == []
        ids = [c["id"] for c in body["choices"]]
        assert ids[body["answer"]] == atlas_id and body["choices"][body["answer"]]["full_text"] == caption
        assert len(set(ids)) == len(ids) == 4 and ids.count(atlas_id) == 1  # distractors: other images
        orders.add(tuple(ids))
    assert len(orders) > 1  # the seed shuffles the choices, never the item


def test_a_set_asked_one_id_at_a_time_comes_in_the_sets_order(engine):
    asked = [engine.post("/v1/quiz", json={"item_ids": [i], "seed": 5}).json()["item"]["id"] for i in SET]
    assert asked == SET
