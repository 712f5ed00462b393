"""End to end: the real bot process and the real engine process (tiny profile), driven through the
Discord stand-in as a study group would: every command and every button, checked where a user looks."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from engine.contract import DISCLAIMER, K_DEFAULT, SYNTHETIC_LABEL
from tests.e2e.answers import Answer, wait_for_answer
from tests.e2e.processes import BotProcess
from tests.e2e.standin import InteractionRecord, StandIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.usefixtures("bot_stays_healthy"),
    pytest.mark.timeout(900),  # the first start builds the tiny models
]

ACK_DEADLINE_S = 3.0
ANSWER_TIMEOUT_S = 120.0


def assert_acknowledged(record: InteractionRecord) -> None:
    """Deferred (thinking) within Discord's 3 s."""
    assert record.acked, f"{record.command or record.custom_id} was never acknowledged"
    assert record.ack_type == 5, f"expected a deferral (5), got {record.ack_type}"
    assert record.ack_latency < ACK_DEADLINE_S


def assert_well_formed(answer: Answer, n_images: int) -> None:
    """Done, with exactly `n_images` decodable images and the disclaimer under the answer."""
    assert answer.ok, answer.status.content
    assert answer.status.components == [], "the Cancel button must go when the job is done"
    assert len(answer.files) == n_images, [f.filename for f in answer.files]
    assert len(answer.images) == n_images, "every attachment must decode as an image"
    for image in answer.images:
        assert min(image.open_image().size) > 0
    assert DISCLAIMER in answer.footer.text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def search_answer(module_standin: StandIn, bot: BotProcess) -> Answer:
    record = await module_standin.run_slash(
        "mirage search", {"query": "pneumothorax on chest x-ray", "k": 3}, user="alice"
    )
    assert_acknowledged(record)
    return await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def generate_answer(module_standin: StandIn, bot: BotProcess) -> Answer:
    record = await module_standin.run_slash(
        "mirage generate",
        {"prompt": "axial CT of the brain with a bright round mass", "seed": 7, "fast": True},
        user="carol",
    )
    assert_acknowledged(record)
    return await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)


async def test_search_answers_in_a_thread_with_images_sources_and_disclaimer(
    module_standin: StandIn, search_answer: Answer
) -> None:
    answer = search_answer
    original = module_standin.interaction_messages(answer.record)[0]
    assert original.content.startswith("🔎 **Search:** pneumothorax on chest x")
    assert answer.thread is not None and int(answer.thread["id"]) == original.id
    assert answer.thread["name"] == "Search: pneumothorax on chest x-ray"
    body = answer.posts[0]
    assert body.embeds and body.embeds[0]["title"] == "Explanation: pneumothorax on chest x-ray"
    assert body.embeds[0]["description"].strip()
    has_best = "**Best match for the explanation**" in body.text
    assert_well_formed(answer, 3 + has_best)
    for f in answer.files:
        assert f"📎 `{f.filename}`" in body.text, f"{f.filename} is not named next to its caption"
    assert body.text.count("`ROCO_") >= 3 and "similarity" in body.text
    assert answer.footer.text.startswith("🔎 **Search:** pneumothorax")
    assert "mirage:more:3:-" in answer.footer.custom_ids
    assert sum(c.startswith("mirage:img:ROCO_") for c in answer.footer.custom_ids) == 3


async def test_more_results_button_posts_the_next_hits_in_the_same_thread(
    module_standin: StandIn, search_answer: Answer
) -> None:
    press = await module_standin.press_button(search_answer.footer, "mirage:more:3:-", user="bob")
    assert_acknowledged(press)
    answer = await wait_for_answer(module_standin, press, ANSWER_TIMEOUT_S)
    assert answer.channel_id == search_answer.channel_id
    assert "More results, 4–" in answer.text
    assert_well_formed(answer, K_DEFAULT)


async def test_use_as_query_button_searches_by_that_atlas_image(
    module_standin: StandIn, search_answer: Answer
) -> None:
    custom_id = next(c for c in search_answer.footer.custom_ids if c.startswith("mirage:img:"))
    atlas_id = custom_id.removeprefix("mirage:img:")
    press = await module_standin.press_button(search_answer.footer, custom_id, user="bob")
    assert_acknowledged(press)
    answer = await wait_for_answer(module_standin, press, ANSWER_TIMEOUT_S)
    assert f"Images like `{atlas_id}`" in answer.text
    assert_well_formed(answer, K_DEFAULT)
    assert f"mirage:img:{atlas_id}" not in answer.footer.custom_ids, "the query image must not be its own hit"


async def test_search_by_image_finds_atlas_images(
    module_standin: StandIn, bot: BotProcess, test_cache_dir: Path
) -> None:
    scan = sorted((test_cache_dir / "demo-roco").rglob("ROCO_*.jpg"))[0]
    record = await module_standin.run_slash(
        "mirage search", {"image": ("my scan.jpg", scan.read_bytes()), "k": 2}, user="dana"
    )
    assert_acknowledged(record)
    answer = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
    assert answer.ok, answer.status.content  # the status line's own words when the search failed
    # the file name is never echoed (it often names a patient): test_e2e_privacy.py
    assert answer.thread is not None and answer.thread["name"] == "Image search: your uploaded image"
    assert "Images like your image" in answer.text
    assert_well_formed(answer, 2)
    assert answer.text.count("`ROCO_") >= 2


async def test_compare_shows_both_images_side_by_side_with_sources(
    module_standin: StandIn, bot: BotProcess
) -> None:
    record = await module_standin.run_slash(
        "mirage compare",
        {"base": "x-ray of a bright round nodule in the left", "subtract": "left", "add": "right"},
        user="erin",
    )
    assert_acknowledged(record)
    answer = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
    assert answer.thread is not None and answer.thread["name"].startswith("Compare: ")
    assert_well_formed(answer, 1)
    width, height = answer.images[0].open_image().size
    assert width > height, "the two images sit side by side"
    assert "**Left: " in answer.text and "**Right: " in answer.text
    assert answer.text.count("`ROCO_") >= 2
    assert any(c.startswith("mirage:img:") for c in answer.footer.custom_ids)


async def test_generate_posts_a_stamped_synthetic_image_beside_the_nearest_real_one(
    generate_answer: Answer,
) -> None:
    answer = generate_answer
    assert answer.thread is not None and answer.thread["name"].startswith("Generate: axial CT")
    assert_well_formed(answer, 1)
    assert SYNTHETIC_LABEL in answer.text and "not a real patient" in answer.text
    assert SYNTHETIC_LABEL in (answer.files[0].description or ""), "alt text must say the image is synthetic"
    assert "seed 7" in answer.footer.text and "fast" in answer.footer.text
    assert "**Right: the nearest real atlas image**" in answer.text and "`ROCO_" in answer.text
    assert any(c.startswith("mirage:seed:") for c in answer.footer.custom_ids)


async def test_new_seed_button_generates_again_with_another_seed(
    module_standin: StandIn, generate_answer: Answer
) -> None:
    custom_id = next(c for c in generate_answer.footer.custom_ids if c.startswith("mirage:seed:"))
    press = await module_standin.press_button(generate_answer.footer, custom_id, user="carol")
    assert_acknowledged(press)
    answer = await wait_for_answer(module_standin, press, ANSWER_TIMEOUT_S)
    assert_well_formed(answer, 1)
    assert SYNTHETIC_LABEL in answer.text
    assert "seed " in answer.footer.text and "seed 7 ·" not in answer.footer.text


async def test_help_is_an_ephemeral_reply(module_standin: StandIn, bot: BotProcess) -> None:
    record = await module_standin.run_slash("mirage help", user="frank")
    assert record.ack_type == 4 and record.ack_latency < ACK_DEADLINE_S
    (reply,) = module_standin.interaction_messages(record)
    assert reply.ephemeral and "/mirage search" in reply.content and DISCLAIMER in reply.content


async def test_cancel_button_obeys_only_the_asker(module_standin: StandIn, bot: BotProcess) -> None:
    record = await module_standin.run_slash(
        "mirage generate", {"prompt": "axial MRI of the spine", "fast": True}, user="gina"
    )
    assert_acknowledged(record)
    thread = await module_standin.wait_for_thread(record, ANSWER_TIMEOUT_S)
    (status,) = await module_standin.wait_for_messages(
        int(thread["id"]), lambda ms: len(ms) == 1, 30, "the status line"
    )
    cancel_id = next(c for c in status.custom_ids if c.startswith("mirage:cancel:"))

    stranger = await module_standin.press_button(status, cancel_id, user="mallory")
    (refusal,) = module_standin.interaction_messages(stranger)
    assert refusal.ephemeral and "Only the person who asked" in refusal.content
    owner = await module_standin.press_button(status, cancel_id, user="gina")
    (confirmation,) = module_standin.interaction_messages(owner)
    assert confirmation.ephemeral and "Cancelling" in confirmation.content

    answer = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
    assert answer.status.content.startswith("🛑"), answer.status.content
    assert answer.posts == [], "a cancelled request posts no answer"


async def test_compare_that_moves_nowhere_still_answers(module_standin: StandIn, bot: BotProcess) -> None:
    # subtract == add: both sides find the same atlas image, so both "use as query" buttons name it
    record = await module_standin.run_slash(
        "mirage compare",
        {"base": "ultrasound of a dark cyst", "subtract": "dark", "add": "dark"},
        user="hank",
    )
    assert_acknowledged(record)
    answer = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
    assert_well_formed(answer, 1)
    assert len(set(answer.footer.custom_ids)) == len(answer.footer.custom_ids), (
        "Discord refuses duplicate custom_ids"
    )
