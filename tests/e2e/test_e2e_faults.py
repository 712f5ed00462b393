"""End to end under faults: Discord rate-limits or refuses an upload, the gateway drops, the engine dies.

The real bot process and the real engine process (tiny profile) behind the Discord stand-in; each test
checks what the user sees and that the bot keeps serving afterwards.
"""

from __future__ import annotations

import pytest

from engine.contract import DISCLAIMER
from tests.e2e.answers import Answer, wait_for_answer
from tests.e2e.processes import BotProcess, EngineProcess
from tests.e2e.standin import StandIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.usefixtures("bot_stays_healthy"),
    pytest.mark.timeout(900),  # the first start builds the tiny models
]

ANSWER_TIMEOUT_S = 120.0


async def search(standin: StandIn, query: str, user: str, k: int = 2) -> Answer:
    """Run /mirage search, check the ack, and wait for the whole answer."""
    record = await standin.run_slash("mirage search", {"query": query, "k": k}, user=user)
    assert record.acked and record.ack_latency < 3.0
    return await wait_for_answer(standin, record, ANSWER_TIMEOUT_S)


async def test_rate_limited_message_is_retried_after_retry_after(module_standin: StandIn) -> None:
    rule = module_standin.set_rate_limit("POST /channels/*/messages", retry_after=1.0)
    answer = await search(module_standin, "round nodule on x-ray", "rl-user")
    assert rule.hits == 1
    assert answer.ok, answer.status.content
    posts = module_standin.calls_matching(f"POST /channels/{answer.channel_id}/messages")
    assert posts[0].status == 429 and posts[1].status == 200
    assert posts[1].at - posts[0].at >= 1.0, "the bot must wait retry_after before trying again"
    has_best = "**Best match for the explanation**" in answer.text
    assert DISCLAIMER in answer.footer.text and len(answer.images) == 2 + has_best


async def test_upload_refused_with_413_is_shrunk_and_retried(module_standin: StandIn) -> None:
    reference = await search(module_standin, "bright oval mass in the center", "big-user", k=3)
    total = sum(f.size for f in reference.files)
    assert total > 0
    # Discord says the limit is 1.5× the answer's files, but refuses anything over 0.8× of them: the
    # first upload fits what the bot was told and gets a 413; the bot's retry at half the told limit fits.
    module_standin.interactions.advertised_upload_limit = int(total * 1.5)
    module_standin.upload_limit, module_standin.upload_limit_scope = int(total * 0.8), "request"
    try:
        answer = await search(module_standin, "bright oval mass in the center", "big-user", k=3)
    finally:
        module_standin.interactions.advertised_upload_limit = 10 * 1024 * 1024
        module_standin.upload_limit, module_standin.upload_limit_scope = 10 * 1024 * 1024, "file"
    assert answer.ok, answer.status.content
    uploads = [
        c for c in module_standin.calls_matching(f"POST /channels/{answer.channel_id}/messages") if c.files
    ]
    assert [c.status for c in uploads] == [413, 200]
    assert sum(f.size for f in uploads[1].files) <= int(total * 0.8) < sum(f.size for f in uploads[0].files)
    assert len(answer.images) == len(reference.images), "shrunk, not dropped"


async def test_gateway_drop_is_resumed_and_the_bot_keeps_serving(module_standin: StandIn) -> None:
    identifies = module_standin.gateway.identifies
    session = module_standin.gateway.current
    await module_standin.drop_gateway()
    await module_standin.wait_for(lambda: session.resumes >= 1, timeout=30, what="the bot's RESUME")
    assert module_standin.gateway.identifies == identifies, "a drop must resume, not re-identify"
    answer = await search(module_standin, "dark irregular lesion", "resume-user")
    assert answer.ok, answer.status.content


async def test_engine_killed_mid_job_gives_a_clear_message_and_the_bot_recovers(
    module_standin: StandIn, engine: EngineProcess, bot: BotProcess
) -> None:
    if not engine.managed:
        pytest.skip("the engine was started outside this session (MIRAGE_E2E_ENGINE_URL)")
    record = await module_standin.run_slash(
        "mirage generate", {"prompt": "sagittal MRI of the knee", "steps": 100}, user="crash-user"
    )
    assert record.acked
    thread = await module_standin.wait_for_thread(record, ANSWER_TIMEOUT_S)
    await module_standin.wait_for_messages(
        int(thread["id"]),
        lambda ms: any("Generating" in m.content for m in ms),
        ANSWER_TIMEOUT_S,
        "the job to reach the engine",
    )
    engine.kill()
    try:
        answer = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
        assert answer.status.content.startswith("❌")
        assert "engine" in answer.status.content.lower()
        assert "Traceback" not in answer.status.content
        assert bot.alive
    finally:
        engine.start()
    after = await search(module_standin, "bright round mass", "crash-user")
    assert after.ok, after.status.content
