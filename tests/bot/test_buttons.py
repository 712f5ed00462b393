"""Persistent buttons: their state is in the custom id, so they work for a freshly started bot."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bot.requests import (
    Answer,
    ForgetConfirmed,
    RateCard,
    Request,
    Rerate,
    ShowCardAnswer,
    StopQuiz,
    TakeHint,
)
from bot.ui.buttons import PERSISTENT_ITEMS, CancelButton
from bot.ui.quiz_buttons import PERSISTENT_ITEMS as QUIZ_ITEMS
from bot.ui.set_buttons import PERSISTENT_ITEMS as SET_ITEMS
from engine.contract import DISCLAIMER

from .conftest import bot_settings, invoke
from .engine_standin import Plan
from .fakes import FakeInteraction, wait_until


async def click(custom_id: str, interaction: FakeInteraction) -> None:
    """Dispatch a button click as discord.py does for registered dynamic items."""
    for item_class in (*PERSISTENT_ITEMS, *QUIZ_ITEMS):
        match = re.fullmatch(item_class.__discord_ui_compiled_template__, custom_id)
        if match:
            item = await item_class.from_custom_id(interaction, None, match)
            if await item.interaction_check(interaction):
                await item.callback(interaction)
            return
    raise AssertionError(f"no persistent item handles {custom_id!r}")


async def test_more_results_after_a_restart_shows_the_next_ranks_in_the_same_thread(engine, make_services):
    first = make_services()
    interaction = FakeInteraction(first)
    await invoke(first, "search", interaction, query="pleural effusion", k=3)
    thread = interaction.thread
    footer = thread.messages[-1]

    restarted = make_services()  # a new process: nothing in memory but the message and its buttons
    click_ = FakeInteraction(restarted, user_id=2, channel=thread, message=footer)
    await click("mirage:more:3:-", click_)

    more = engine.calls("/v1/search")[-1]["body"]
    assert more == {"query": "pleural effusion", "k": 7, "enrich": False}
    assert thread.threads == [] and len(interaction.channel.threads) == 1  # answered in the same thread
    page = "\n".join(m.content for m in thread.messages[4:])
    assert "More results, 4–7" in page and "ROCO_00004" in page and "ROCO_00007" in page
    assert "ROCO_00003" not in page and DISCLAIMER in page
    assert "mirage:more:7:-" in thread.messages[-1].custom_ids
    assert "Use #4 as query" in thread.messages[-1].button_labels


async def test_more_results_keeps_a_query_with_markdown_and_mentions_intact(engine, services):
    query = "*bold* _x_ <@123> `code` a\\b: c-d"
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query=query, k=1)
    footer = interaction.thread.messages[-1]

    await click("mirage:more:1:-", FakeInteraction(services, channel=interaction.thread, message=footer))

    assert engine.calls("/v1/search")[-1]["body"]["query"] == query


async def test_new_seed_generates_the_same_prompt_with_another_seed(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="knee MRI, torn meniscus", seed=5, steps=3)
    footer = interaction.thread.messages[-1]

    await click(
        "mirage:seed:3:0", FakeInteraction(services, user_id=9, channel=interaction.thread, message=footer)
    )

    again = engine.calls("/v1/generate")[-1]["body"]
    assert again["prompt"] == "knee MRI, torn meniscus" and again["steps"] == 3 and again["fast"] is False
    assert isinstance(again["seed"], int)
    assert len(interaction.thread.messages[-1].files) == 1


async def test_use_as_query_searches_with_the_atlas_images_stored_vector(engine, services):
    thread_owner = FakeInteraction(services)
    await invoke(services, "search", thread_owner, query="pneumothorax", k=2)
    fetched_before = len(engine.calls("/v1/atlas/image"))

    click_ = FakeInteraction(services, channel=thread_owner.thread, message=thread_owner.thread.messages[-1])
    await click("mirage:img:ROCO_00002", click_)

    (similar,) = engine.calls("/v1/search/similar")
    assert similar["path"] == "/v1/search/similar/ROCO_00002" and similar["body"]["k"] == 4
    assert similar["headers"]["Authorization"].startswith("Bearer ")
    assert engine.calls("/v1/search/image") == []  # nothing downloaded and uploaded back
    fetched = [c["body"] for c in engine.calls("/v1/atlas/image")[fetched_before:]]
    assert "ROCO_00002" not in fetched  # only the hits' images, to show them
    header, *hit_lines = thread_owner.thread.messages[-2].content.split("\n")
    assert "Images like `ROCO_00002`" in header.replace("\\", "")
    listed = "\n".join(hit_lines)
    assert "ROCO_00002" not in listed  # not the query image itself
    assert all(f"ROCO_0000{i}" in listed for i in (1, 3, 4, 5))


async def test_a_button_for_a_stale_message_without_its_query_says_so(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="q", k=1)
    status = interaction.thread.messages[0]  # no marked query on this message

    click_ = FakeInteraction(services, channel=interaction.thread, message=status)
    await click("mirage:more:1:-", click_)
    assert "can't find the query" in click_.ephemeral_text


async def test_only_the_owner_can_cancel_and_cancelling_a_waiting_job_frees_its_place(engine, make_services):
    services = make_services(engine_max_concurrent=1)
    engine.plan("/v1/search", Plan(delay=0.5))
    first, second = FakeInteraction(services, user_id=1), FakeInteraction(services, user_id=2)
    running = asyncio.create_task(invoke(services, "search", first, query="a", k=1))
    await wait_until(lambda: engine.calls("/v1/search"))
    waiting = asyncio.create_task(invoke(services, "search", second, query="b", k=1))
    await wait_until(lambda: second.channel.threads and second.thread.messages)
    status = second.thread.messages[0]
    assert status.content == "⏳ You're next in the queue."
    (cancel_id,) = status.custom_ids

    stranger = FakeInteraction(services, user_id=1, message=status)
    await click(cancel_id, stranger)
    assert "Only the person who asked" in stranger.ephemeral_text

    owner = FakeInteraction(services, user_id=2, message=status)
    await click(cancel_id, owner)
    assert "Cancelling" in owner.ephemeral_text
    await asyncio.gather(running, waiting)
    assert status.content == "🛑 Cancelled." and status.view is None
    assert [c["body"]["query"] for c in engine.calls("/v1/search")] == ["a"]
    assert first.thread.messages[0].content == "✅ Done."
    assert services.queue.open_jobs() == [] and services.queue.running == 0


async def test_cancelling_a_running_generation_stops_it_and_frees_the_slot(engine, services):
    engine.plan("/v1/generate", Plan(steps=50, step_delay=0.05))
    interaction = FakeInteraction(services, user_id=3)
    task = asyncio.create_task(invoke(services, "generate", interaction, prompt="p", steps=50))
    await wait_until(lambda: interaction.channel.threads and "step" in interaction.thread.messages[0].content)
    status = interaction.thread.messages[0]

    await click(status.custom_ids[0], FakeInteraction(services, user_id=3, message=status))
    await asyncio.wait_for(task, 5)
    assert status.content == "🛑 Cancelled."
    assert services.queue.running == 0 and services.queue.open_jobs() == []
    assert len(interaction.thread.messages) == 1  # no answer posted


async def test_cancel_after_the_job_finished_says_so(engine, services):
    clicker = FakeInteraction(services, user_id=4)
    await click(CancelButton("abc123", 4).custom_id, clicker)
    assert "already finished" in clicker.ephemeral_text


def test_every_button_on_an_answer_is_handled_by_a_persistent_item():
    from bot.ui import views

    built = [
        *views.search_view(shown=4, modality="x-ray", hit_ids=["ROCO_00001", "ROCO_1.2-x"]).children,
        *views.generate_view(steps=30, fast=False, nearest_id="ROCO_00007").children,
        *views.compare_view("A", "B").children,
    ]
    for item in built:
        assert any(
            re.fullmatch(cls.__discord_ui_compiled_template__, item.custom_id) for cls in (*PERSISTENT_ITEMS, *SET_ITEMS)
        )
        assert item.custom_id.startswith("mirage:") and len(item.custom_id) <= 100


def test_a_compare_that_finds_the_same_image_twice_offers_one_button_not_two_with_one_id():
    from bot.ui import views

    same = [item.custom_id for item in views.compare_view("ROCO_00042", "ROCO_00042").children]
    assert same == ["mirage:ask", "mirage:img:ROCO_00042"]  # Discord refuses repeated custom_ids with a 400
    different = [item.custom_id for item in views.compare_view("ROCO_00001", "ROCO_00002").children]
    assert different == ["mirage:ask", "mirage:img:ROCO_00001", "mirage:img:ROCO_00002"]


class Recorder:
    """Services that only note what the UI handed over (the flows are tested elsewhere)."""

    def __init__(self) -> None:
        self.settings = bot_settings("http://127.0.0.1:1", allowed_channel_ids=[])
        self.requests: list[Request] = []

    async def handle(self, interaction: Any, request: Request) -> None:
        self.requests.append(request)


# Custom ids of quiz and review buttons on messages posted before the quiz joined the bot's one shape:
# after a deploy they must still parse, each into its typed request.
OLD_QUIZ_IDS = [
    ("mirage:quiz:a:123456789012345678:4", Answer(123456789012345678, 4)),
    ("mirage:quiz:h:77:4294967295", TakeHint(77, 4294967295)),
    ("mirage:quiz:stop:9", StopQuiz(9)),
    ("mirage:quiz:rate:77:1", Rerate(77, 1)),
    ("mirage:review:show:5", ShowCardAnswer(5)),
    ("mirage:review:rate:5:4", RateCard(5, 4)),
    ("mirage:forget:1", ForgetConfirmed()),
]


@pytest.mark.parametrize(("custom_id", "request_"), OLD_QUIZ_IDS)
async def test_a_quiz_buttons_old_custom_id_hands_over_its_typed_request(custom_id: str, request_: Request):
    services = Recorder()
    await click(custom_id, FakeInteraction(services, user_id=1))
    assert services.requests == [request_]


async def test_a_quiz_button_outside_the_allowed_channels_is_refused_before_any_request():
    services = Recorder()
    services.settings = bot_settings("http://127.0.0.1:1", allowed_channel_ids=[4242])
    interaction = FakeInteraction(services)
    await click("mirage:quiz:a:1:0", interaction)
    assert services.requests == [] and interaction.ephemeral_text
