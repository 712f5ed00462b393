"""Follow-ups: the button opens a modal first; the answer lands in the thread with its sources; threads are
remembered in the real database (also across a restart); unknown threads and a database that is down get
short, friendly answers."""

from __future__ import annotations

import asyncio

import discord

from bot.flows.ask import HISTORY_TURNS
from bot.flows.live import CURSOR, STOPPED, WRITING, LiveText
from bot.requests import AskFollowUp, CancelJob
from bot.store import jobs, open_url, threads, turns
from bot.store.database import Database, make_engine
from bot.ui.buttons import AskFollowUpButton
from bot.ui.mentions import follow_up_from
from bot.ui.modals import follow_up_from_modal
from engine.contract import ASK_QUESTION_MAX_CHARS, DISCLAIMER

from .conftest import invoke
from .engine_standin import Plan, hit
from .fakes import FakeChannel, FakeInteraction, FakePost, FakeThread, FakeUser, forbidden, wait_until
from .test_buttons import click


async def _search_thread(services, query: str = "pneumothorax", k: int = 3) -> FakeThread:
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, query=query, k=k)
    return interaction.thread


async def _ask_with_the_button(services, thread: FakeThread, question: str, user_id: int = 1) -> FakeInteraction:
    """Click 'Ask a follow-up' under the answer, then submit the modal, as Discord would."""
    footer = thread.messages[-1]
    assert "mirage:ask" in footer.custom_ids
    click = FakeInteraction(services, user_id=user_id, channel=thread, message=footer)
    await AskFollowUpButton().callback(click)
    modal = click.response.modal
    assert modal is not None and not click.response.deferred  # the modal is the first (and only) response
    submit = modal_submit(services, thread, modal.custom_id, question, user_id)
    request = follow_up_from_modal(submit)  # as MirageBot.on_interaction reads every submitted form
    assert request is not None
    await services.handle(submit, request)
    return submit


def modal_submit(services, thread: FakeThread, custom_id: str, question: str, user_id: int = 1) -> FakeInteraction:
    """The MODAL_SUBMIT interaction Discord sends when the form is sent."""
    submit = FakeInteraction(services, user_id=user_id, channel=thread)
    submit.type = discord.InteractionType.modal_submit
    field = {"type": 4, "custom_id": "question", "value": question}
    submit.data = {"custom_id": custom_id, "components": [{"type": 1, "components": [field]}]}
    return submit


async def test_a_follow_up_is_answered_in_the_thread_with_the_cited_sources(engine, services):
    thread = await _search_thread(services)
    before = len(thread.messages)

    submit = await _ask_with_the_button(services, thread, "why is it dark on x-ray?")

    (call,) = engine.calls("/v1/ask")
    # grounded in what the thread showed, in order: the best match first, then the hits
    assert call["body"] == {
        "question": "why is it dark on x-ray?",
        "context_ids": ["ROCO_00099", "ROCO_00001", "ROCO_00002", "ROCO_00003"],
    }
    # in the thread: the question (the modal's own response), the status line, the answer
    header, status, answer = thread.messages[before:]
    assert header is submit.original and "why is it dark on x-ray?" in header.content.replace("\\", "")
    assert status.content == "✅ Done."
    shown = answer.content.replace("\\", "")
    assert shown.startswith("About 'why is it dark on x-ray?': air collects in the pleural space [1]")
    sources = shown.split("**Sources:**\n", 1)[1]
    assert "[1] `ROCO_00099` · [PMC1099]" in sources and "[4] `ROCO_00003` · [PMC1003]" in sources
    assert "CC BY 4.0" in sources and "ROCO_00001" not in sources  # only the cited ones
    assert DISCLAIMER in answer.content
    assert answer.custom_ids == ["mirage:ask"]  # and the button again
    async with services.db.session() as session:
        (turn,) = await turns.thread_turns(session, thread.id)
    assert turn.question == "why is it dark on x-ray?" and turn.cited_ids == ["ROCO_00099", "ROCO_00003"]


async def test_an_ungrounded_answer_shows_the_captions_with_every_source(engine, services):
    thread = await _search_thread(services, k=1)
    captions = "[1] Chest x-ray number 99 …\n[2] Chest x-ray number 1 …"
    engine.plan("/v1/ask", Plan(body={
        "question": "q", "answer": captions, "citations": [], "grounded": False, "notes": ["no valid citation"],
        "sources": [hit(99), hit(1)],
    }))
    await _ask_with_the_button(services, thread, "q")

    shown = thread.messages[-1].content.replace("\\", "")
    assert "could not be tied to these images" in shown
    assert "[1] `ROCO_00099`" in shown and "[2] `ROCO_00001`" in shown


async def test_a_follow_up_in_a_thread_the_bot_does_not_know_points_to_search(engine, services):
    stranger = FakeThread(name="chatter", parent=FakeChannel())
    submit = FakeInteraction(services, channel=stranger)
    await services.handle(submit, AskFollowUp(stranger.id, "hi?"))

    assert "start with `/mirage search`" in submit.ephemeral_text.lower()
    assert engine.calls("/v1/ask") == [] and stranger.messages == []


async def test_follow_ups_work_after_a_restart_from_the_database(engine, make_services, bot_db):
    first = make_services()
    thread = await _search_thread(first)
    # a new process: new queue, new HTTP client, a new connection pool on the same database file
    reopened = await open_url(str(bot_db.engine.url))
    try:
        second = make_services(db=reopened)
        await _ask_with_the_button(second, thread, "what else could this be?")
        assert len(engine.calls("/v1/ask")) == 1
        assert "[1] `ROCO_00099`" in thread.messages[-1].content.replace("\\", "")
    finally:
        await reopened.close()


async def test_a_database_that_is_down_gets_a_short_try_again_and_the_bot_stays_up(engine, make_services):
    services = make_services()
    thread = await _search_thread(services)
    down = Database(make_engine("postgresql+asyncpg://mirage:x@127.0.0.1:9/mirage"))  # nothing listens there
    try:
        outage = make_services(db=down)
        submit = await _ask_with_the_button(outage, thread, "still there?")
        assert "try again" in submit.ephemeral_text and "Nothing is lost" in submit.ephemeral_text
        assert engine.calls("/v1/ask") == []
    finally:
        await down.close()
    # the thread's context is intact once the database is back
    async with services.db.session() as session:
        remembered = await threads.get_thread(session, thread.id)
    assert remembered is not None and remembered.hit_ids[0] == "ROCO_00099"
    await _ask_with_the_button(services, thread, "still there?")
    assert len(engine.calls("/v1/ask")) == 1


async def test_a_mention_in_an_answer_thread_is_a_follow_up(engine, services):
    thread = await _search_thread(services)
    bot_user = FakeUser(4242, bot=True)
    post = FakePost(thread, "<@4242> is this a tension pneumothorax?", author_id=7, mentions=(bot_user,))

    request = follow_up_from(post, bot_user)  # type: ignore[arg-type]
    assert request is not None and request.question == "is this a tension pneumothorax?"
    await services.handle_message(post, request)  # type: ignore[arg-type]

    (call,) = engine.calls("/v1/ask")
    assert call["body"]["question"] == "is this a tension pneumothorax?"
    texts = [m.content.replace("\\", "") for m in thread.messages]
    assert any(t.startswith("💬 **Follow-up:** is this a tension pneumothorax?") for t in texts)
    assert texts[-1].startswith("About 'is this a tension pneumothorax?'") and DISCLAIMER in texts[-1]


async def test_messages_that_are_not_follow_ups_are_ignored():
    bot_user = FakeUser(4242, bot=True)
    thread = FakeThread(name="t", parent=FakeChannel())
    assert follow_up_from(FakePost(thread, "no mention here"), bot_user) is None  # type: ignore[arg-type]
    in_channel = FakePost(FakeChannel(), "<@4242> hi", mentions=(bot_user,))
    assert follow_up_from(in_channel, bot_user) is None  # type: ignore[arg-type]
    from_a_bot = FakePost(thread, "<@4242> hi", mentions=(bot_user,))
    from_a_bot.author.bot = True
    assert follow_up_from(from_a_bot, bot_user) is None  # type: ignore[arg-type]


async def test_an_over_long_mention_question_is_refused_with_the_limit(engine, services):
    thread = await _search_thread(services)
    bot_user = FakeUser(4242, bot=True)
    post = FakePost(thread, "<@4242> " + "why " * 200, mentions=(bot_user,))
    await services.handle_message(post, follow_up_from(post, bot_user))  # type: ignore[arg-type]
    assert f"at most {ASK_QUESTION_MAX_CHARS} characters" in thread.messages[-1].content
    assert engine.calls("/v1/ask") == []


async def test_the_modal_limits_the_question_to_the_contract(engine, services):
    thread = await _search_thread(services)
    click = FakeInteraction(services, channel=thread, message=thread.messages[-1])
    await AskFollowUpButton().callback(click)
    field = click.response.modal.question
    assert (field.min_length, field.max_length) == (1, ASK_QUESTION_MAX_CHARS)


async def test_mirage_ask_outside_a_thread_searches_first_and_remembers_the_new_thread(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "ask", interaction, question="what does a pneumothorax look like?")

    (search,) = engine.calls("/v1/search")
    assert search["body"] == {"query": "what does a pneumothorax look like?", "k": 4, "enrich": False}
    (ask,) = engine.calls("/v1/ask")
    assert ask["body"]["context_ids"] == ["ROCO_00001", "ROCO_00002", "ROCO_00003", "ROCO_00004"]
    thread = interaction.thread
    assert thread.messages[0].content == "✅ Done." and "**Sources:**" in thread.messages[-1].content
    # … and the new thread takes follow-ups
    await _ask_with_the_button(services, thread, "and on CT?")
    assert len(engine.calls("/v1/ask")) == 2


async def test_cancel_after_a_restart_says_the_request_was_cut_short(engine, services):
    async with services.db.session() as session:
        await jobs.save_job(session, job_id="abc123", user_id=1, kind="search", request={"query": "q"})
        await jobs.interrupt_unfinished(session)

    click = FakeInteraction(services, user_id=1)
    await services.handle(click, CancelJob("abc123"))
    assert "cut short when the bot restarted" in click.ephemeral_text


async def test_a_form_sent_after_a_restart_is_still_answered(engine, services):
    # The Modal object that opened the form belonged to the old process; the submit carries all we need.
    thread = await _search_thread(services)
    submit = modal_submit(services, thread, f"mirage:ask-modal:{thread.id}:0badc0de", "sent after a restart?")
    request = follow_up_from_modal(submit)
    assert request == AskFollowUp(thread.id, "sent after a restart?")
    await services.handle(submit, request)
    assert len(engine.calls("/v1/ask")) == 1 and "**Sources:**" in thread.messages[-1].content


async def test_two_forms_in_one_thread_have_their_own_ids(engine, services):
    thread = await _search_thread(services)
    ids = set()
    for user in (1, 2):
        click = FakeInteraction(services, user_id=user, channel=thread, message=thread.messages[-1])
        await AskFollowUpButton().callback(click)
        ids.add(click.response.modal.custom_id)
    assert len(ids) == 2


async def test_a_blank_question_is_refused_with_the_limit_before_anything_is_queued(engine, services):
    thread = await _search_thread(services)
    submit = modal_submit(services, thread, f"mirage:ask-modal:{thread.id}:1", "   ")
    await services.handle(submit, follow_up_from_modal(submit))
    assert f"1–{ASK_QUESTION_MAX_CHARS} characters" in submit.ephemeral_text
    assert engine.calls("/v1/ask") == [] and not submit.response.deferred


async def test_with_the_database_down_searches_still_answer(engine, make_services, caplog):
    down = Database(make_engine("postgresql+asyncpg://mirage:x@127.0.0.1:9/mirage"))  # nothing listens there
    try:
        services = make_services(db=down)
        thread = await _search_thread(services)
        assert thread.messages[0].content == "✅ Done." and "ROCO_00001" in thread.text
        # the operator is told at once; the write stays queued and is retried for minutes (Database.write)
        assert "not remembered yet: the database is unavailable (retrying" in caplog.text
    finally:
        await down.close()


# --- issue 18: a conversation (history from the database) and streamed answers -------------------------
async def test_each_follow_up_sends_the_threads_earlier_turns_oldest_first_button_and_mention_alike(
    engine, make_services, bot_db
):
    services = make_services()
    thread = await _search_thread(services)
    await _ask_with_the_button(services, thread, "what does the x-ray show?")
    bot_user = FakeUser(4242, bot=True)
    post = FakePost(thread, "<@4242> and on CT?", author_id=7, mentions=(bot_user,))
    await services.handle_message(post, follow_up_from(post, bot_user))  # type: ignore[arg-type]
    # a restarted process reads the same turns from the database
    reopened = await open_url(str(bot_db.engine.url))
    try:
        await _ask_with_the_button(make_services(db=reopened), thread, "compare it with the first answer")
    finally:
        await reopened.close()

    first, second, third = (call["body"] for call in engine.calls("/v1/ask"))
    assert "history" not in first  # nothing earlier in the thread
    answer_1 = "About 'what does the x-ray show?': air collects in the pleural space [1] and the lung edge is visible [4]."
    assert second["history"] == [{"question": "what does the x-ray show?", "answer": answer_1}]
    assert [turn["question"] for turn in third["history"]] == ["what does the x-ray show?", "and on CT?"]
    assert third["history"][0]["answer"] == answer_1  # the third question can refer to the first answer


async def test_only_the_last_turns_are_sent(engine, services):
    thread = await _search_thread(services)
    async with services.db.session() as session:
        for n in range(HISTORY_TURNS + 3):
            await turns.add_turn(session, thread_id=thread.id, user_id=1, question=f"question {n}",
                                 answer=f"answer {n} [1]", cited_ids=["ROCO_00099"], grounded=True)
    await _ask_with_the_button(services, thread, "and now?")
    history = engine.calls("/v1/ask")[0]["body"]["history"]
    assert [t["question"] for t in history] == [f"question {n}" for n in range(3, HISTORY_TURNS + 3)]


async def test_the_answer_streams_into_one_message_then_the_checked_cited_text_replaces_it(engine, make_services):
    services = make_services(progress_interval_s=0.1)
    thread = await _search_thread(services)
    words = [f"word{n} " for n in range(12)]
    engine.plan("/v1/ask", Plan(tokens=words, token_delay=0.03))
    before = len(thread.messages)
    await _ask_with_the_button(services, thread, "why is it dark?")

    header, status, answer = thread.messages[before:]
    shown = [c.replace("\\", "") for c in answer.content_history]
    assert shown[0].startswith("word0") and shown[0].endswith(WRITING)  # the first words, marked as being written
    partial = shown[:-1]
    assert all(a.split(CURSOR)[0] in b for a, b in zip(partial, partial[1:], strict=False))  # it only grows
    assert len(partial) >= 2  # the words arrived over ~0.36 s: at least one edit came in between
    gaps = [b - a for a, b in zip(answer.edit_times, answer.edit_times[1:], strict=False)]
    assert all(gap >= 0.1 - 0.01 for gap in gaps[:-1])  # at most one edit per MIRAGE_PROGRESS_INTERVAL_S
    final = shown[-1]
    assert final.startswith("About 'why is it dark?': air collects") and "**Sources:**" in final
    assert DISCLAIMER in answer.content and WRITING not in final and answer.custom_ids == ["mirage:ask"]
    assert status.content == "✅ Done."


async def test_cancel_while_the_answer_is_written_stops_the_stream_and_says_so(engine, services):
    thread = await _search_thread(services)
    engine.plan("/v1/ask", Plan(tokens=[f"w{n} " for n in range(100)], token_delay=0.05))
    before = len(thread.messages)
    task = asyncio.create_task(_ask_with_the_button(services, thread, "slowly?"))
    await wait_until(lambda: len(thread.messages) >= before + 3)  # header, status, the first words
    status, live = thread.messages[before + 1], thread.messages[before + 2]

    await click(status.custom_ids[0], FakeInteraction(services, user_id=1, message=status))
    await asyncio.wait_for(task, 5)
    assert status.content == "🛑 Cancelled."
    await wait_until(lambda: engine.closed_early == 1)  # the engine's stream was closed: its generation stops
    assert live.content.startswith("w0") and live.content.endswith(STOPPED) and "**Sources:**" not in live.content
    async with services.db.session() as session:
        assert await turns.thread_turns(session, thread.id) == []  # no answer, no turn


async def test_words_that_cannot_be_posted_do_not_cost_the_answer():
    class RefusesFirst:
        """A reply whose first message is refused by Discord; the next ones go through."""

        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send(self, content: str, **kwargs: object) -> object:
            if not self.sent:
                self.sent.append("refused")
                raise forbidden()
            self.sent.append(content)
            return object()

    reply = RefusesFirst()
    live = LiveText(reply, min_interval_s=0.0)  # type: ignore[arg-type]
    await live.update("Air in")
    await live.update("Air in the pleural space")  # no more tries once refused
    await live.finish("the checked answer [1]")
    assert reply.sent == ["refused", "the checked answer [1]"]
