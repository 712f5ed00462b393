"""Quiz load benchmark: 100 players click on the same quiz question at once, on SQLite and on PostgreSQL.

The real bot process and the real engine (tiny profile) behind the Discord stand-in, once with the
default SQLite file and once with a real PostgreSQL server (tests/postgres.py, started here). Each run:

1. a host starts `/mirage quiz questions:2`;
2. question 1: every player clicks a letter in the same instant (players join by answering; this
   question ends on its timer);
3. question 2: every player clicks again; the question is revealed as soon as the last one is in.

Reported per database: acknowledgement latency p50/p99/max over all 2 × N clicks (target p99 ≤ 300 ms),
reveal latency (question 2: from the last acknowledgement to the reveal message; question 1: how late
after its timer), the click rate the bot committed (clicks / time from first dispatch to last
acknowledgement, each acknowledgement following its commit), and the answer writer's own throughput
in-process (`AnswerWriter`, 1,000 clicks in waves of 100). Checked, from the database: one answer row
and one score per player and question, and the reveal's scoreboard equal to the database's.

    .venv/bin/python bench/load_quiz.py                 # 100 players, SQLite then PostgreSQL
    .venv/bin/python bench/load_quiz.py --players 20 --no-write

Writes bench/results/load_quiz.{json,md} unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from bench.common import TEST_CACHE, write_results  # noqa: E402
from bench.load_bot import percentile  # noqa: E402
from bot.flows.quiz.writer import AnswerWriter  # noqa: E402
from bot.store import answers, open_url, quizzes, scores  # noqa: E402
from bot.store.database import default_url  # noqa: E402
from bot.store.models import Quiz, utcnow  # noqa: E402
from tests.e2e.processes import FAST_BOT_ENV, BotProcess, EngineProcess, engine_data_dir  # noqa: E402
from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

REVEAL_S = 15.0
ANSWER = "mirage:quiz:a:"
REVEAL_HEAD = re.compile(r"✅ \*\*Question (\d+)/")
BOARD_LINE = re.compile(r"<@(\d+)> · (\d+) pts")


def _questions(standin: StandIn, thread_id: int) -> list[MessageRecord]:
    return [m for m in standin.messages_in(thread_id) if any(c.startswith(ANSWER) for c in m.custom_ids)]


def _reveals(standin: StandIn, thread_id: int) -> list[MessageRecord]:
    return [m for m in standin.messages_in(thread_id) if REVEAL_HEAD.search(m.content)]


async def _click_at_once(standin: StandIn, question: MessageRecord, players: int) -> list[InteractionRecord]:
    """Every player presses a letter in the same instant; wait for every acknowledgement."""
    letters = [c for c in question.custom_ids if c.startswith(ANSWER)]
    records = await asyncio.gather(
        *(
            standin.press_button(question, letters[i % len(letters)], user=f"p{i:03d}", wait_ack=False)
            for i in range(players)
        )
    )
    await standin.wait_for(lambda: all(r.acked for r in records), 10, "every acknowledgement")
    return list(records)


async def _check_database(url: str, players: int) -> dict[str, Any]:
    """One answer row and one score per player and question; the final standings from the database."""
    db = await open_url(url)
    try:
        async with db.session() as session:
            (quiz,) = (await session.scalars(select(Quiz))).all()
            questions = await quizzes.quiz_questions(session, quiz.id)
            rows = [len(await answers.question_answers(session, q.id)) for q in questions]
            board = await scores.quiz_scoreboard(session, quiz.id)
    finally:
        await db.close()
    return {
        "answer_rows_per_question": rows,
        "one_row_per_player": rows == [players] * len(questions),
        "scored_players": len(board),
        "points": {s.user_id: s.points for s in board},
    }


async def _writer_throughput(url: str, clicks: int = 1000, wave: int = 100) -> dict[str, Any]:
    """The answer writer alone: `clicks` clicks in waves of `wave` concurrent ones, on a fresh question."""
    db = await open_url(url)
    writer = AnswerWriter(db)
    try:
        async with db.session() as session:
            quiz = await quizzes.start_quiz(
                session, thread_id=1, guild_id=1, starter_id=1, kind="caption", modality=None, question_count=1
            )
            question = await quizzes.add_question(
                session, quiz.id, position=0, atlas_id="ROCO_1", modality=None,
                choices=[{"text": t} for t in "ABCD"], answer_index=0, deadline=utcnow(),
            )  # fmt: skip
        started = time.perf_counter()
        for first in range(0, clicks, wave):
            await asyncio.gather(*(writer.record(question.id, 10**6 + u % 500, u % 4) for u in range(first, first + wave)))
        elapsed = time.perf_counter() - started
    finally:
        await writer.close()
        await db.close()
    return {"clicks": clicks, "wave": wave, "seconds": round(elapsed, 3), "writes_per_s": round(clicks / elapsed, 1),
            "transactions": writer.batches}  # fmt: skip


async def run_one(
    name: str, db_env: dict[str, str], db_url: str, writer_url: str, engine: EngineProcess, players: int, logs: Path
) -> dict[str, Any]:
    """One database: bot up, two questions of N simultaneous clicks, figures and checks."""
    async with StandIn() as standin:
        env = {**FAST_BOT_ENV, **db_env, "MIRAGE_QUIZ_REVEAL_S": str(REVEAL_S)}
        bot = BotProcess(standin.env(), engine.url, engine.token, logs / f"bot-{name}.log", extra_env=env).start()
        try:
            await standin.wait_until_ready(90)
            start = await standin.run_slash("mirage quiz", {"questions": 2}, user="host")
            thread = await standin.wait_for_thread(start, 60)
            thread_id = int(thread["id"])
            q1 = (await standin.wait_for(lambda: _questions(standin, thread_id), 60, "question 1"))[0]
            clicks1 = await _click_at_once(standin, q1, players)
            r1 = (await standin.wait_for(lambda: _reveals(standin, thread_id), REVEAL_S + 60, "reveal 1"))[0]
            q2 = (await standin.wait_for(lambda: (q := _questions(standin, thread_id))[1:] and q, 60, "question 2"))[1]
            clicks2 = await _click_at_once(standin, q2, players)
            last_ack = max(r.acked_at or 0 for r in clicks2)
            r2 = (await standin.wait_for(lambda: (r := _reveals(standin, thread_id))[1:] and r, REVEAL_S + 60, "reveal 2"))[1]
            end = await standin.wait_for(
                lambda: [m for m in standin.messages_in(thread_id) if "Quiz over" in m.content], 60, "the end"
            )
            alive = bot.alive
        finally:
            bot.stop()
        clicks = clicks1 + clicks2
        acks = [r.ack_latency for r in clicks if r.ack_latency is not None]
        private = all(standin.interaction_messages(r) and standin.interaction_messages(r)[0].ephemeral for r in clicks)
        shown = {int(u): int(p) for u, p in BOARD_LINE.findall(end[0].content)}
    checks = await _check_database(db_url, players)
    commit_rate = [
        players / ((max(r.acked_at or 0 for r in c) - min(r.dispatched_at for r in c)) or 1e-9) for c in (clicks1, clicks2)
    ]
    return {
        "database": name,
        "players": players,
        "ack_s": {"p50": percentile(acks, 50), "p99": percentile(acks, 99), "max": max(acks)},
        "ack_p99_s_by_question": [percentile([r.ack_latency or 0 for r in c], 99) for c in (clicks1, clicks2)],
        "acked_within_3s": sum(a < 3.0 for a in acks),
        "clicks": len(clicks),
        "all_private": private,
        "reveal_after_last_answer_s": round(r2.created_at - last_ack, 3),
        "reveal_after_timer_s": round(r1.created_at - q1.created_at - REVEAL_S, 3),
        "clicks_committed_per_s": [round(x, 1) for x in commit_rate],
        "writer_alone": await _writer_throughput(writer_url),
        **{k: v for k, v in checks.items() if k != "points"},
        "scoreboard_matches_database": all(checks["points"].get(u) == p for u, p in shown.items()) and len(shown) == min(10, players),
        "bot_alive_after": alive,
    }  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The engine and a PostgreSQL server once; the bot against each database in turn."""
    logs = Path(tempfile.mkdtemp(prefix="load_quiz-"))
    print(f"starting the engine and PostgreSQL (logs in {logs}) …", flush=True)
    engine = EngineProcess(engine_data_dir(TEST_CACHE, logs), logs / "engine.log").start()
    pg = PostgresServer().start()
    runs = []
    try:
        sqlite_dir = logs / "sqlite-data"
        sqlite_url = default_url(sqlite_dir)
        writer_url = f"sqlite+aiosqlite:///{logs / 'writer.sqlite3'}"
        env = {"MIRAGE_DATA_DIR": str(sqlite_dir)}
        runs.append(await run_one("sqlite", env, sqlite_url, writer_url, engine, args.players, logs))
        pg_url, pg_writer_url = pg.create_database("load_quiz"), pg.create_database("load_quiz_writer")
        env = {"MIRAGE_DATA_DIR": str(logs / "pg-data"), "MIRAGE_DATABASE_URL": pg_url}
        runs.append(await run_one("postgresql", env, pg_url, pg_writer_url, engine, args.players, logs))
    finally:
        engine.stop()
        pg.stop()
    return {
        "players": args.players,
        "runs": runs,
        "logs": str(logs),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "note": "shared with other work while it ran; PostgreSQL test server runs with fsync off"},
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    """A short human-readable report."""

    def ms(x: float | None) -> str:
        return "–" if x is None else f"{x * 1000:.0f}"

    lines = [
        f"# Quiz load: {result['players']} players clicking on one question at once (real bot + tiny engine + stand-in)",
        "",
        "| database | ack p50 (ms) | ack p99 (ms) | ack max (ms) | within 3 s | reveal after last answer (ms) "
        "| reveal after timer (ms) | clicks committed/s (q1, q2) | writer alone (writes/s) | one row per player "
        "| scoreboard = DB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["runs"]:
        a = r["ack_s"]
        lines.append(
            f"| {r['database']} | {ms(a['p50'])} | {ms(a['p99'])} | {ms(a['max'])} | {r['acked_within_3s']}/{r['clicks']} "
            f"| {ms(r['reveal_after_last_answer_s'])} | {ms(r['reveal_after_timer_s'])} "
            f"| {', '.join(str(x) for x in r['clicks_committed_per_s'])} | {r['writer_alone']['writes_per_s']} "
            f"| {r['one_row_per_player']} | {r['scoreboard_matches_database']} |"
        )
    lines += ["", f"machine: {result['machine']['cpus']} CPUs, {result['machine']['note']}",
              f"command: .venv/bin/python bench/load_quiz.py --players {result['players']}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Parse arguments, run, print (and write) the report; exit 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print only, do not write bench/results")
    args = parser.parse_args()
    if not 1 <= args.players <= 999:
        parser.error(f"--players must be 1–999, got {args.players}")
    result = asyncio.run(run(args))
    report = markdown(result)
    print(report)
    if not args.no_write:
        write_results("load_quiz", result, report)
    ok = all(
        r["one_row_per_player"] and r["scoreboard_matches_database"] and r["acked_within_3s"] == r["clicks"]
        and r["all_private"] and r["bot_alive_after"]
        for r in result["runs"]
    )  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
