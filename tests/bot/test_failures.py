"""Failure is friendly: engine down, slow, busy or erroring → a clear line for the user, the slot freed."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from bot.errors import SORRY, report_unexpected

from .conftest import ENGINE_TOKEN, invoke
from .engine_standin import EngineStandIn, Plan
from .fakes import FakeInteraction


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def assert_slot_freed(services) -> None:
    assert services.queue.open_jobs() == [] and services.queue.running == 0


async def test_engine_down_is_reported_and_the_bot_keeps_serving(make_services):
    port = free_port()
    services = make_services(engine_url=f"http://127.0.0.1:{port}", engine_retries=1)
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="pneumothorax")

    status = interaction.thread.messages[0]
    assert (
        status.content
        == "❌ The MIRAGE engine is not reachable right now. Please try again in a few minutes."
    )
    assert status.view is None  # no cancel button left behind
    assert_slot_freed(services)

    late_engine = EngineStandIn(token=ENGINE_TOKEN)  # the engine comes up; the same bot serves again
    await late_engine.start(port)
    try:
        again = FakeInteraction(services)
        await invoke(services, "search", again, query="pneumothorax", k=1)
        assert again.thread.messages[0].content == "✅ Done."
    finally:
        await late_engine.stop()


async def test_a_slow_engine_times_out_with_a_clear_message(engine, make_services):
    services = make_services(engine_timeout_s=0.3)
    engine.plan("/v1/compare", Plan(delay=1.0))
    interaction = FakeInteraction(services)
    await invoke(services, "compare", interaction, base="a", subtract="b", add="c")

    assert "took too long" in interaction.thread.messages[0].content
    assert len(engine.calls("/v1/compare")) == 1  # a timeout is not retried: the work may still be running
    assert_slot_freed(services)


async def test_a_whole_job_past_its_deadline_is_stopped(engine, make_services):
    services = make_services(job_timeout_s=0.3)
    engine.plan("/v1/generate", Plan(steps=40, step_delay=0.05))
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="p", steps=40)

    status = interaction.thread.messages[0].content
    assert status.startswith("❌ This took longer than 0.3 s, so I stopped.")
    assert_slot_freed(services)


async def test_busy_engine_is_retried_after_retry_after_then_answers(engine, services):
    engine.plan("/v1/search", Plan(status=429, code="busy", message="queue full", retry_after="1"))
    interaction = FakeInteraction(services)
    started = time.monotonic()
    await invoke(services, "search", interaction, query="pneumothorax", k=1)

    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    assert len(engine.calls("/v1/search")) == 2
    assert interaction.thread.messages[0].content == "✅ Done."
    assert "ROCO_00001" in interaction.thread.text


async def test_busy_engine_after_all_retries_tells_the_user(engine, services):
    engine.plan("/v1/search", *[Plan(status=429, code="busy", message="queue full", retry_after="0")] * 3)
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="pneumothorax")

    status = interaction.thread.messages[0].content
    assert status.startswith("❌ The engine is busy (queue full).") and "tried 3 times" in status
    assert len(engine.calls("/v1/search")) == 3
    assert_slot_freed(services)


async def test_busy_in_the_event_stream_is_retried_too(engine, services):
    engine.plan("/v1/generate", Plan(stream_error=(429, "busy", "queue full")))
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="p", steps=2)

    assert len(engine.calls("/v1/generate")) == 2
    assert len(interaction.thread.messages[-1].files) == 1


async def test_an_engine_error_body_reaches_the_user_in_its_own_words(engine, services):
    engine.plan("/v1/compare", Plan(status=422, code="invalid", message="subtract must differ from base"))
    interaction = FakeInteraction(services)
    await invoke(services, "compare", interaction, base="a", subtract="a", add="b")

    assert (
        interaction.thread.messages[0].content
        == "❌ The engine could not do that: subtract must differ from base"
    )
    assert_slot_freed(services)


async def test_an_error_event_in_the_stream_reaches_the_user(engine, services):
    engine.plan("/v1/generate", Plan(steps=2, stream_error=(500, "diffusion_failed", "out of GPU memory")))
    interaction = FakeInteraction(services)
    await invoke(services, "generate", interaction, prompt="p", steps=2)

    assert interaction.thread.messages[0].content == "❌ The engine could not do that: out of GPU memory"
    assert_slot_freed(services)


async def test_an_engine_not_ready_is_retried_then_explained(engine, services):
    engine.plan("/v1/search", *[Plan(status=503, code="not_ready", message="loading CLIP")] * 3)
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="q")

    assert "not ready yet (loading CLIP)" in interaction.thread.messages[0].content
    assert len(engine.calls("/v1/search")) == 3


async def test_an_error_the_engine_marks_not_retryable_is_not_retried(engine, services):
    # e.g. a 503 for a component that failed to load: sending the same request again cannot help
    engine.plan("/v1/search", Plan(status=503, code="unavailable", message="the LLM failed to load", retryable=False))
    engine.plan("/v1/generate", Plan(stream_error=(429, "too_large", "this never fits"), retryable=False))
    search, generate = FakeInteraction(services, user_id=1), FakeInteraction(services, user_id=2)
    await invoke(services, "search", search, query="q")
    await invoke(services, "generate", generate, prompt="p", steps=2)

    assert len(engine.calls("/v1/search")) == 1 and len(engine.calls("/v1/generate")) == 1
    assert "the LLM failed to load" in search.thread.messages[0].content
    assert "this never fits" in generate.thread.messages[0].content or "busy" in generate.thread.messages[0].content


async def test_a_wrong_engine_token_is_explained_to_the_user(engine, make_services):
    services = make_services(engine_token="another-secret")
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="q")

    assert "token mismatch" in interaction.thread.messages[0].content
    assert len(engine.calls("/v1/search")) == 1  # 401 is not retried


async def test_an_answer_that_breaks_the_contract_is_reported_not_crashed(engine, services):
    engine.plan("/v1/search", Plan(body={"unexpected": True}))
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="q")

    assert "not in the format I expect" in interaction.thread.messages[0].content
    assert_slot_freed(services)


async def test_a_missing_atlas_image_leaves_the_rest_of_the_answer(engine, services):
    engine.plan("/v1/atlas/image", Plan(status=404, code="not_found", message="no such image"))
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query="q", k=2)

    assert len(interaction.thread.messages[-1].files) == 2  # best + 2 hits, one image missing
    assert "(image unavailable)" in interaction.thread.text


async def test_unexpected_errors_end_at_the_edge_with_a_log_and_a_friendly_line(services, caplog):
    interaction = FakeInteraction(services)
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        caught = error
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        await report_unexpected(interaction, caught)

    assert interaction.ephemeral_text == SORRY
    (record,) = caplog.records
    assert record.exc_info is not None and "boom" in str(record.exc_info[1])


async def test_channel_and_role_limits_are_enforced_with_a_clear_message(engine, make_services):
    services = make_services(allowed_channel_ids=[111], allowed_role_ids=[222])
    elsewhere = FakeInteraction(services, roles=(222,))
    await invoke(services, "search", elsewhere, query="q")
    assert "not enabled in this channel" in elsewhere.ephemeral_text and "<#111>" in elsewhere.ephemeral_text

    allowed_channel = FakeInteraction(services, roles=(999,))
    allowed_channel.channel_id = 111
    await invoke(services, "search", allowed_channel, query="q")
    assert "<@&222>" in allowed_channel.ephemeral_text

    allowed = FakeInteraction(services, roles=(222,))
    allowed.channel_id = 111
    await invoke(services, "search", allowed, query="q", k=1)
    assert allowed.thread.messages[0].content == "✅ Done."
    assert len(engine.calls("/v1/search")) == 1


async def test_help_honours_the_channel_and_role_limits_like_every_other_command(engine, make_services):
    services = make_services(allowed_channel_ids=[111], allowed_role_ids=[222])
    elsewhere = FakeInteraction(services, roles=(222,))
    await invoke(services, "help", elsewhere)
    assert "not enabled in this channel" in elsewhere.ephemeral_text and "/mirage search" not in elsewhere.ephemeral_text

    no_role = FakeInteraction(services, roles=(999,))
    no_role.channel_id = 111
    await invoke(services, "help", no_role)
    assert "<@&222>" in no_role.ephemeral_text and "/mirage search" not in no_role.ephemeral_text

    allowed = FakeInteraction(services, roles=(222,))
    allowed.channel_id = 111
    await invoke(services, "help", allowed)
    assert "/mirage search" in allowed.ephemeral_text


async def test_a_bug_while_answering_leaves_a_clear_status_frees_the_slot_and_reaches_the_edge(
    engine, services
):
    garbage = {
        "prompt": "p",
        "prompt_used": "p",
        "image_png_b64": "bm90IGFuIGltYWdl",  # "not an image"
        "seed": 1,
        "steps": 2,
        "guidance": 7.5,
        "fast": False,
        "nearest": None,
    }
    engine.plan("/v1/generate", Plan(body=garbage))
    interaction = FakeInteraction(services)
    with pytest.raises(ValueError, match="not an image"):
        await invoke(services, "generate", interaction, prompt="p", steps=2)

    assert interaction.thread.messages[0].content == f"❌ {SORRY}"
    assert interaction.thread.messages[0].view is None
    assert_slot_freed(services)
