"""End to end, follow-ups: the real bot process (with its SQLite database) and the real engine (tiny
profile) through the Discord stand-in. A search answer's "Ask a follow-up" opens a modal as the first
response; the submitted question is answered in the same thread with its sources; an @mention in the
thread is a follow-up too; after the bot process is killed and started again on the same data, the old
answer's buttons and follow-ups still work.

Issue 18: the bot reaches the engine through a small proxy (`SlowTokens`) that records what /v1/ask
receives and lets each streamed `token` event through a little late, as a real LLM writes (the tiny one
writes a hundred tokens in milliseconds): a three-turn thread sends its earlier turns, and an answer
arrives as a message edited while it is written, then replaced by the checked, cited text."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from engine.contract import DISCLAIMER
from tests.e2e.answers import FINAL_MARKS, Answer, wait_for_answer
from tests.e2e.conftest import RestartableBot, restartable_bot
from tests.e2e.processes import EngineProcess, free_port
from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]

ANSWER_TIMEOUT_S = 120.0
CB_DEFERRED, CB_MODAL = 5, 9
SOURCE_LINE = re.compile(r"\[(\d+)\] `(ROCO_\w+)`")

PROXY_PORT = free_port()
WRITING = "being written by a language model"  # bot/flows/live.py's line under words still coming


class SlowTokens:
    """Between the bot and the real engine: forwards every request, keeps each /v1/ask body, and lets every
    streamed `token` event through `token_delay_s` late. Closing the bot's side closes the engine's."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream, self.port = upstream, port
        self.asks: list[dict] = []
        self.token_delay_s = 0.2
        self.tokens = 0

    async def start(self) -> None:
        self.client = httpx.AsyncClient(base_url=self.upstream, timeout=300)
        app = web.Application(client_max_size=32 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.client.aclose()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "POST" and request.path == "/v1/ask":
            self.asks.append(json.loads(body))
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "accept", "content-type", "user-agent")}
        sent = self.client.build_request(request.method, request.path_qs, content=body, headers=headers)
        response = await self.client.send(sent, stream=True)
        try:
            kind = response.headers.get("content-type", "")
            passed = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "retry-after")}
            if not kind.startswith("text/event-stream"):
                return web.Response(status=response.status_code, body=await response.aread(), headers=passed)
            out = web.StreamResponse(status=response.status_code, headers=passed)
            await out.prepare(request)
            block: list[str] = []
            async for line in response.aiter_lines():
                block.append(line)
                if line == "":
                    if block[0].startswith("event: token"):
                        self.tokens += 1
                        await asyncio.sleep(self.token_delay_s)
                    await out.write(("\n".join(block) + "\n").encode())
                    block = []
            await out.write_eof()
            return out
        finally:
            await response.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def slow_tokens(engine: EngineProcess) -> AsyncIterator[SlowTokens]:
    """The proxy the module's bot talks to (started before the bot: module-scoped and autouse)."""
    proxy = SlowTokens(engine.url, PROXY_PORT)
    await proxy.start()
    yield proxy
    await proxy.stop()


followup_bot = restartable_bot("followup_bot", MIRAGE_ENGINE_URL=f"http://127.0.0.1:{PROXY_PORT}")


@pytest.fixture(autouse=True)
def bot_stays_healthy(followup_bot: RestartableBot) -> Iterator[None]:
    """After each test: the bot is alive and asked the stand-in for nothing it lacks."""
    yield
    followup_bot.assert_healthy()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def search_answer(module_standin: StandIn, followup_bot: RestartableBot) -> Answer:
    record = await module_standin.run_slash(
        "mirage search", {"query": "round nodule on chest x-ray", "k": 3}, user="alice"
    )
    answer = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
    assert answer.ok, answer.status.content
    return answer


def shown_ids(answer: Answer) -> set[str]:
    """The atlas ids a search answer showed (best match and hits)."""
    return set(re.findall(r"`(ROCO_\w+)`", answer.posts[0].text))


async def ask_with_the_button(standin: StandIn, footer: MessageRecord, question: str, user: str) -> InteractionRecord:
    """Press 'Ask a follow-up' on `footer`, check the modal came first, submit `question`."""
    click = await standin.press_button(footer, "mirage:ask", user=user)
    assert [c["type"] for c in click.callbacks] == [CB_MODAL], "the modal must be the first and only response"
    assert click.modal is not None and click.modal["title"] == "Ask a follow-up"
    (text_input,) = [c for row in click.modal["components"] for c in row["components"]]
    assert text_input["max_length"] == 500 and text_input["min_length"] == 1
    submit = await standin.submit_modal(click, question, user=user)
    assert submit.acked and submit.ack_type == CB_DEFERRED and submit.ack_latency < 3.0
    return submit


async def final_answer_after(standin: StandIn, thread_id: int, since: float) -> list[MessageRecord]:
    """The bot's messages in the thread after `since`, once the status line among them is final."""

    def done() -> list[MessageRecord] | None:
        mine = [m for m in standin.messages_in(thread_id) if m.source == "channel" and m.created_at >= since]
        status = next((m for m in mine if not m.content.startswith("💬")), None)  # after a mention's header
        return mine if status is not None and status.content.startswith(FINAL_MARKS) else None

    return await standin.wait_for(done, ANSWER_TIMEOUT_S, f"a finished follow-up in thread {thread_id}")


def assert_grounded_reply(answer_message: MessageRecord, allowed_ids: set[str]) -> None:
    """The answer, then its sources (ROCO id · PMC · licence) from the thread's images, the disclaimer and
    the follow-up button again."""
    text = answer_message.text
    assert "**Sources:**" in text and DISCLAIMER in text
    cited = SOURCE_LINE.findall(text.replace("\\", ""))
    assert cited, text
    assert {atlas_id for _, atlas_id in cited} <= allowed_ids, (cited, allowed_ids)
    assert "mirage:ask" in answer_message.custom_ids


async def test_follow_up_button_modal_answer_in_the_same_thread(
    module_standin: StandIn, search_answer: Answer
) -> None:
    thread_id = search_answer.channel_id
    submit = await ask_with_the_button(module_standin, search_answer.footer, "why is the nodule round?", "bob")
    posts = await final_answer_after(module_standin, thread_id, submit.dispatched_at)
    status, answer = posts[0], posts[-1]
    assert status.content.startswith("✅"), status.content
    assert_grounded_reply(answer, shown_ids(search_answer))
    assert "why is the nodule round?" in module_standin.interaction_messages(submit)[0].text.replace("\\", "")


async def test_a_mention_in_the_thread_is_a_follow_up(module_standin: StandIn, search_answer: Answer) -> None:
    thread_id = search_answer.channel_id
    posted = await module_standin.post_message(
        thread_id, f"<@{module_standin.bot_user_id}> what else could this be?", user="carol"
    )
    posts = await final_answer_after(module_standin, thread_id, posted.created_at)
    header, status, answer = posts[0], posts[1], posts[-1]
    assert header.text.replace("\\", "").startswith("💬 **Follow-up:** what else could this be?")
    assert status.content.startswith("✅"), status.content
    assert_grounded_reply(answer, shown_ids(search_answer))


async def test_a_mention_outside_an_answer_thread_is_ignored(module_standin: StandIn, search_answer: Answer) -> None:
    channel = module_standin.channel_id  # a message in the channel itself is no follow-up: ignored
    before = len(module_standin.messages_in(channel))
    await module_standin.post_message(channel, f"<@{module_standin.bot_user_id}> hello?", user="dave")
    await asyncio.sleep(1.0)
    assert [m for m in module_standin.messages_in(channel)[before:] if m.source != "user"] == []


async def test_after_a_restart_the_old_answers_buttons_and_follow_ups_still_work(
    module_standin: StandIn, followup_bot: RestartableBot, search_answer: Answer
) -> None:
    thread_id = search_answer.channel_id
    opened = await module_standin.press_button(search_answer.footer, "mirage:ask", user="frank")
    assert opened.modal is not None  # the form is open on the student's screen while the bot restarts
    await followup_bot.restart()

    sent_late = await module_standin.submit_modal(opened, "answered by the new process?", user="frank")
    assert sent_late.acked and sent_late.ack_type == CB_DEFERRED
    posts = await final_answer_after(module_standin, thread_id, sent_late.dispatched_at)
    assert posts[0].content.startswith("✅"), posts[0].content
    assert_grounded_reply(posts[-1], shown_ids(search_answer))

    submit = await ask_with_the_button(module_standin, search_answer.footer, "is it benign?", "erin")
    posts = await final_answer_after(module_standin, thread_id, submit.dispatched_at)
    assert posts[0].content.startswith("✅"), posts[0].content
    assert_grounded_reply(posts[-1], shown_ids(search_answer))

    more = await module_standin.press_button(search_answer.footer, "mirage:more:3:-", user="erin")
    assert more.acked and more.ack_type == CB_DEFERRED
    more_answer = await wait_for_answer(module_standin, more, ANSWER_TIMEOUT_S)
    assert more_answer.ok and "More results, 4–" in more_answer.text

    use = next(c for c in search_answer.footer.custom_ids if c.startswith("mirage:img:"))
    similar = await module_standin.press_button(search_answer.footer, use, user="erin")
    similar_answer = await wait_for_answer(module_standin, similar, ANSWER_TIMEOUT_S)
    assert similar_answer.ok and "Images like" in similar_answer.text


# --- issue 18: a conversation, streamed ---------------------------------------------------------------
def _turn_rows(bot: RestartableBot, thread_id: int) -> list[tuple[str, str]]:
    return bot.rows("SELECT question, answer FROM turns WHERE thread_id = ? ORDER BY id", thread_id)


async def test_a_three_turn_thread_sends_its_earlier_turns_and_the_third_refers_to_the_first(
    module_standin: StandIn, followup_bot: RestartableBot, slow_tokens: SlowTokens
) -> None:
    record = await module_standin.run_slash("mirage search", {"query": "bright round lesion on CT", "k": 3})
    search = await wait_for_answer(module_standin, record, ANSWER_TIMEOUT_S)
    assert search.ok, search.status.content
    thread_id, asks_before = search.channel_id, len(slow_tokens.asks)
    questions = ["what does the CT show?", "and on the x-ray?", "going back to your first answer: where is it?"]

    submit = await ask_with_the_button(module_standin, search.footer, questions[0], "gina")
    await final_answer_after(module_standin, thread_id, submit.dispatched_at)
    posted = await module_standin.post_message(thread_id, f"<@{module_standin.bot_user_id}> {questions[1]}", user="hal")
    await final_answer_after(module_standin, thread_id, posted.created_at)
    submit = await ask_with_the_button(module_standin, search.footer, questions[2], "gina")
    posts = await final_answer_after(module_standin, thread_id, submit.dispatched_at)

    first, second, third = slow_tokens.asks[asks_before:]
    assert [a["question"] for a in (first, second, third)] == questions
    stored = _turn_rows(followup_bot, thread_id)
    assert "history" not in first
    assert second["history"] == [{"question": q, "answer": a} for q, a in stored[:1]]
    assert third["history"] == [{"question": q, "answer": a} for q, a in stored[:2]]  # the first answer is in it
    answer = posts[-1]
    assert_grounded_reply(answer, shown_ids(search))
    assert re.search(r"Follows on from the last [12] turn\(s\) of this thread", answer.text), answer.text


async def test_an_answer_streams_as_edits_no_faster_than_the_interval_then_the_checked_text_replaces_it(
    module_standin: StandIn, search_answer: Answer, slow_tokens: SlowTokens
) -> None:
    thread_id = search_answer.channel_id
    streamed: MessageRecord | None = None
    for question in ("what does it look like?", "where is the lesion?", "which modality is this?"):
        submit = await ask_with_the_button(module_standin, search_answer.footer, question, "ivan")
        posts = await final_answer_after(module_standin, thread_id, submit.dispatched_at)
        answer = posts[-1]
        if any(WRITING in edit.get("content", "") for edit in answer.edits):
            streamed = answer
            break
    assert streamed is not None, "the tiny LLM wrote no words for three questions: nothing streamed"
    writing = [e for e in streamed.edits if WRITING in (e.get("content") or "")]
    assert streamed.payload.get("content") is not None and len(writing) >= 1  # the first words, then edits
    times = [e["_at"] for e in streamed.edits]
    assert all(b - a >= 0.3 - 0.05 for a, b in zip(times, times[1:-1], strict=False))  # MIRAGE_PROGRESS_INTERVAL_S
    assert WRITING not in streamed.text  # replaced by the checked, cited answer
    # grounded in what the thread showed (its search and any "More results" pages before this)
    shown = {i for m in module_standin.messages_in(thread_id) if m.created_at < streamed.created_at
             for i in re.findall(r"`(ROCO_\w+)`", m.text)}
    assert_grounded_reply(streamed, shown)
    assert module_standin.calls_matching("* /channels/*") and not [
        c for c in module_standin.calls_matching("* /channels/*") if c.status == 429
    ]


async def test_fifty_students_asking_at_once_get_streamed_answers_without_a_single_429(
    module_standin: StandIn, slow_tokens: SlowTokens
) -> None:
    # Slower than the tiny LLM, so answers are edited as they come: the random tiny model writes only ~25
    # words for some prompts (it did after the restart test), and 25 × 0.05 s ended before a first edit.
    slow_tokens.token_delay_s = 0.15
    calls_before = len(module_standin.calls)
    records = await asyncio.gather(*(
        module_standin.run_slash("mirage ask", {"question": f"what does a round lesion look like, case {i}?"},
                                 user=f"student{i}")
        for i in range(50)
    ))
    answers = await asyncio.gather(*(wait_for_answer(module_standin, r, 600) for r in records))
    assert all(a.ok for a in answers), [a.status.content for a in answers if not a.ok]
    assert all("**Sources:**" in a.text and DISCLAIMER in a.text for a in answers)
    streamed = [a for a in answers if any(WRITING in (e.get("content") or "") for m in a.posts for e in m.edits)]
    calls = module_standin.calls[calls_before:]
    refused = [str(c) for c in calls if c.status == 429]
    assert refused == [], refused[:5]
    assert streamed, "no answer was edited while it was written: the run proved nothing about streaming"
    print(f"\n50 students: {len(streamed)} answers streamed with edits, {len(calls)} REST calls, 0 × 429")
