"""End to end, follow-ups: the real bot process (with its SQLite database) and the real engine (tiny
profile) through the Discord stand-in. A search answer's "Ask a follow-up" opens a modal as the first
response; the submitted question is answered in the same thread with its sources; an @mention in the
thread is a follow-up too; after the bot process is killed and started again on the same data, the old
answer's buttons and follow-ups still work."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
import pytest_asyncio

from engine.contract import DISCLAIMER
from tests.e2e.answers import FINAL_MARKS, Answer, wait_for_answer
from tests.e2e.conftest import RestartableBot, restartable_bot
from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]

ANSWER_TIMEOUT_S = 120.0
CB_DEFERRED, CB_MODAL = 5, 9
SOURCE_LINE = re.compile(r"\[(\d+)\] `(ROCO_\w+)`")

followup_bot = restartable_bot("followup_bot")


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
