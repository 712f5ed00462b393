"""Load benchmark: N simulated users in one guild fire a mix of /mirage commands at once.

The real bot process and the real engine process (tiny profile) behind the Discord stand-in
(tests/e2e/standin). Every user sends one command at the same moment; the run then waits until every
interaction has a final status line (✅ / ❌ / 🛑), an ephemeral error, or the timeout.

The stand-in enforces Discord's rate limits (tests/e2e/standin/limits.py: 50 requests/s, 5 message
creates or edits per channel in 5 s); its 429s are counted.

Reported: acknowledgement latency p50/p99/max (Discord's limit is 3 s), time to the final answer
p50/p99/max, and per interaction exactly one outcome: one final answer (one thread, one status line
finished once, one answer footer) or one clear error; anything else is counted as lost or doubled.
Also: answers per second against the engine's own throughput, measured alone in the same run (the
same command mix sent straight to the engine, as many at once as it takes), and forgotten threads:
answered search/compare threads the bot's database does not remember, plus "not remembered" /
"not recorded" warnings in the bot's log.

    .venv/bin/python bench/load_bot.py                       # 50 users, starts its own engine
    nice -n 10 .venv/bin/python bench/load_bot.py --users 1000 --database postgresql
    .venv/bin/python bench/load_bot.py --engine-url http://127.0.0.1:8700 --engine-token T
    .venv/bin/python bench/load_bot.py --users 10 --no-write # a smoke run

Writes bench/results/load_bot[_<tag>].{json,md} unless --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import TEST_CACHE, write_results  # noqa: E402
from bench.load_bot_checks import cpu_seconds, engine_alone, forgotten  # noqa: E402
from bot.store.database import default_url  # noqa: E402
from engine.contract import DISCLAIMER  # noqa: E402
from tests.e2e.answers import FINAL_MARKS  # noqa: E402
from tests.e2e.processes import BotProcess, EngineProcess, engine_data_dir  # noqa: E402
from tests.e2e.standin import InteractionRecord, StandIn  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

ACK_LIMIT_S = 3.0
# The bot as deployed (its default progress interval, retries and timeouts), not the e2e tests' quick
# settings: each user sends one command, so the per-user cooldown is the only thing turned off.
LOAD_BOT_ENV = {"MIRAGE_USER_COOLDOWN_S": "0"}
STILL_GOING = ("⏳", "⚙️", "🔎", "🖼️", "🎨", "⚖️")  # a queue place or a working line (bot/render/text.py)


def command_for(i: int, scan: bytes) -> tuple[str, dict[str, object]]:
    """User i's command: a fixed mix of 5 search, 2 compare, 1 image search, 2 generate per 10 users."""
    topic = ("round nodule", "bright oval mass", "dark irregular lesion", "small bright spot", "large cyst")[
        i % 5
    ]
    slot = i % 10
    if slot < 5:
        return "mirage search", {"query": f"{topic} on x-ray, case {i}", "k": 1 + i % 4}
    if slot < 7:
        return "mirage compare", {"base": f"CT of a {topic} in the left", "subtract": "left", "add": "right"}
    if slot == 7:
        return "mirage search", {"image": (f"scan{i}.jpg", scan), "k": 3}
    return "mirage generate", {"prompt": f"MRI of a {topic}", "seed": i, "fast": slot == 8}


@dataclass
class Outcome:
    """What one interaction got."""

    user: str
    command: str
    ack_s: float | None
    final_s: float | None
    verdict: str  # answer | error | waiting (at the timeout, still queued or working) | lost | doubled
    detail: str


def judge(standin: StandIn, record: InteractionRecord) -> Outcome:
    """Classify one interaction: exactly one final answer, one clear error, lost, or doubled."""
    kind = record.command or ""
    own = set(record.message_ids)
    threads = [t for t in standin.threads if int(t["id"]) in own]
    ephemeral = [m for m in standin.interaction_messages(record) if m.ephemeral and m.content]
    if not record.acked:
        return Outcome(record.user_name, kind, None, None, "lost", "never acknowledged")
    if len(threads) > 1:
        return Outcome(record.user_name, kind, record.ack_latency, None, "doubled", f"{len(threads)} threads")
    if not threads:
        if ephemeral:
            return Outcome(
                record.user_name, kind, record.ack_latency, None, "error", ephemeral[0].content[:120]
            )
        return Outcome(record.user_name, kind, record.ack_latency, None, "lost", "no thread, no error")
    posts = [m for m in standin.messages_in(int(threads[0]["id"])) if m.source == "channel"]
    if not posts:
        return Outcome(record.user_name, kind, record.ack_latency, None, "lost", "empty thread")
    status = posts[0]
    finals = [e for e in status.edits if str(e.get("content") or "").startswith(FINAL_MARKS)]
    footers = [
        m for m in posts[1:] if DISCLAIMER in m.content
    ]  # the closing message (an embed may repeat it)
    if not finals:
        # still in line or working when the run's timeout hit: told where it stands, not (yet) answered
        verdict = "waiting" if status.content.startswith(STILL_GOING) else "lost"
        return Outcome(
            record.user_name, kind, record.ack_latency, None, verdict, f"status stuck at {status.content[:80]!r}"
        )
    final_s = finals[0]["_at"] - record.dispatched_at
    if len(finals) > 1 or len(footers) > 1:
        return Outcome(
            record.user_name,
            kind,
            record.ack_latency,
            final_s,
            "doubled",
            f"{len(finals)} finals, {len(footers)} footers",
        )
    if status.content.startswith("✅"):
        if len(footers) != 1:
            return Outcome(
                record.user_name, kind, record.ack_latency, final_s, "lost", "done but no answer footer"
            )
        return Outcome(
            record.user_name, kind, record.ack_latency, final_s, "answer", f"{len(footers[0].files)} images"
        )
    return Outcome(record.user_name, kind, record.ack_latency, final_s, "error", status.content[:120])


class Settled:
    """Whether every interaction has a final status line or an ephemeral reply, checked incrementally:
    an interaction once settled is not looked at again (a check over 1,000 interactions on every REST
    call starved the stand-in, which runs in the same loop)."""

    def __init__(self, standin: StandIn, records: list[InteractionRecord]) -> None:
        self.standin = standin
        self.open = list(records)

    def __call__(self) -> bool:
        threads = {int(t["id"]): t for t in self.standin.threads}
        self.open = [r for r in self.open if not self._settled(r, threads)]
        return not self.open

    def _settled(self, record: InteractionRecord, threads: dict[int, dict[str, object]]) -> bool:
        if not record.acked:
            return False
        thread = next((threads[m] for m in record.message_ids if m in threads), None)
        if thread is None:
            return any(m.ephemeral and m.content for m in self.standin.interaction_messages(record))
        posts = [m for m in self.standin.messages_in(int(thread["id"])) if m.source == "channel"]  # type: ignore[call-overload]
        return bool(posts) and posts[0].content.startswith(FINAL_MARKS)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


async def run(args: argparse.Namespace) -> dict[str, object]:
    """Start everything, measure the engine alone, fire the users at once, wait, judge."""
    logs = Path(tempfile.mkdtemp(prefix="load_bot-"))
    cache = TEST_CACHE
    engine: EngineProcess | None = None
    pg: PostgresServer | None = None
    if args.engine_url:
        engine_url, engine_token = args.engine_url, args.engine_token or ""
    else:
        print(f"starting the engine (tiny profile, logs in {logs}) …", flush=True)
        engine = EngineProcess(engine_data_dir(cache, logs), logs / "engine.log").start()
        engine_url, engine_token = engine.url, engine.token
    scan = sorted((cache / "demo-roco").rglob("ROCO_*.jpg"))[0].read_bytes()
    data_dir = logs / "bot-data"
    db_env = {"MIRAGE_DATA_DIR": str(data_dir)}  # its own database
    db_url = default_url(data_dir)
    try:
        if args.database == "postgresql":
            pg = PostgresServer().start()
            db_url = pg.create_database("load_bot")
            db_env["MIRAGE_DATABASE_URL"] = db_url
        # 1. the engine alone: the same mix, straight to it (it is warm afterwards, as for the bot)
        engine_pid = engine.process.proc.pid if engine is not None and engine.process.proc else None
        alone: dict[str, Any] | None = None
        if args.engine_sample:
            print(f"engine alone: {args.engine_sample} requests …", flush=True)
            alone = await engine_alone(
                engine_url, engine_token, [command_for(i, scan) for i in range(args.engine_sample)],
                cpu=lambda: cpu_seconds(engine_pid),
            )
            print(f"engine alone: {alone}", flush=True)
        # 2. the bot behind the stand-in, under Discord's limits
        async with StandIn() as standin:
            bot = BotProcess(
                standin.env(), engine_url, engine_token, logs / "bot.log", extra_env={**LOAD_BOT_ENV, **db_env}
            ).start()
            try:
                await standin.wait_until_ready(90)
                commands = [command_for(i, scan) for i in range(args.users)]
                bot_pid = bot.process.proc.pid if bot.process.proc else None
                cpu_start = {"engine": cpu_seconds(engine_pid), "bot": cpu_seconds(bot_pid), "bench": cpu_seconds(os.getpid())}
                started = time.monotonic()
                records = await asyncio.gather(
                    *(
                        standin.run_slash(path, opts, user=f"student{i:02d}", wait_ack=False)
                        for i, (path, opts) in enumerate(commands)
                    )
                )
                try:  # an interaction not acknowledged in time is Discord's "did not respond": judged lost
                    await standin.wait_for(lambda: all(r.acked for r in records), ACK_LIMIT_S + 1, "every ack")
                except TimeoutError as exc:
                    print(f"warning: {str(exc)[:200]}", flush=True)
                burst = {  # when the stand-in sent the events and got the acknowledgements, from the start
                    "sent_last_s": round(max(r.dispatched_at for r in records) - started, 3),
                    "first_ack_s": round(min((r.acked_at for r in records if r.acked_at), default=math.nan) - started, 3),
                    "last_ack_s": round(max(r.acked_at or 0.0 for r in records) - started, 3),
                }
                print(f"burst: {burst}", flush=True)
                try:
                    await standin.wait_for(Settled(standin, records), args.timeout, "every final answer")
                except TimeoutError as exc:
                    print(f"warning: {exc}", flush=True)
                wall = time.monotonic() - started
                cpu = {  # cores each process used during the run: on one machine they share the same 2 cores
                    name: round((cpu_seconds(pid) - cpu_start[name]) / wall, 2)
                    for name, pid in (("engine", engine_pid), ("bot", bot_pid), ("bench", os.getpid()))
                }
                outcomes = [judge(standin, r) for r in records]
                bot_alive = bot.alive
                limits = standin.limits
                refused = {
                    "global": limits.refused_global if limits else 0,
                    "route": limits.refused_route if limits else 0,
                    "rest_calls": len(standin.calls),
                }
                by_route = Counter(f"{c.method} {c.route}" for c in standin.calls)
                thread_of = {
                    o.user: int(t["id"])
                    for o, r in zip(outcomes, records, strict=True)
                    for t in standin.threads
                    if int(t["id"]) in set(r.message_ids)
                }
            finally:
                bot.stop()
        lost_memory = await forgotten(db_url, logs / "bot.log", outcomes, thread_of)
    finally:
        if engine is not None:
            engine.stop()
        if pg is not None:
            pg.stop()
    acks = [o.ack_s for o in outcomes if o.ack_s is not None]
    finals = [o.final_s for o in outcomes if o.final_s is not None]
    verdicts = {v: sum(o.verdict == v for o in outcomes) for v in ("answer", "error", "waiting", "lost", "doubled")}
    last_answer = max((o.final_s for o in outcomes if o.verdict == "answer" and o.final_s), default=None)
    answers_per_s = verdicts["answer"] / last_answer if last_answer else None
    return {
        "users": args.users,
        "database": args.database,
        "wall_s": round(wall, 2),
        "ack_s": {"p50": percentile(acks, 50), "p99": percentile(acks, 99), "max": max(acks, default=None)},
        "acked_within_3s": sum(a < ACK_LIMIT_S for a in acks),
        "burst": burst,
        "final_s": {
            "p50": percentile(finals, 50),
            "p99": percentile(finals, 99),
            "max": max(finals, default=None),
        },
        "verdicts": verdicts,
        "exactly_one_outcome_each": verdicts["lost"] == 0 and verdicts["doubled"] == 0,
        "answers_per_s": answers_per_s and round(answers_per_s, 3),
        "engine_alone": alone,
        "vs_engine_alone": answers_per_s and alone and round(answers_per_s / alone["answers_per_s"], 3),
        "cores_used": cpu,
        # answers per second of engine CPU, against the engine alone's: how well the bot feeds the engine,
        # apart from the cores the bot and the stand-in take from it on one machine
        "per_engine_core_vs_alone": answers_per_s and alone and alone.get("engine_cores") and cpu["engine"] and round(
            (answers_per_s / cpu["engine"]) / (alone["answers_per_s"] / alone["engine_cores"]), 3
        ),
        "forgotten": lost_memory,
        "discord_429s": refused,
        "rest_calls_by_route": dict(by_route.most_common()),
        "bot_alive_after": bot_alive,
        "by_command": {
            c: {
                "n": sum(o.command == c for o in outcomes),
                "final_p50_s": percentile([o.final_s for o in outcomes if o.command == c and o.final_s], 50),
            }
            for c in sorted({o.command for o in outcomes})
        },
        "outcomes": [asdict(o) for o in outcomes],
        "logs": str(logs),
        "load_average": os.getloadavg(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def markdown(result: dict[str, object]) -> str:
    """A short human-readable report."""

    def f(x: object) -> str:
        return "–" if x is None else f"{x:.3f}"

    ack, final, v = result["ack_s"], result["final_s"], result["verdicts"]  # type: ignore[index]
    lines = [
        f"# Load: {result['users']} users at once (real bot + tiny engine + Discord stand-in)",
        "",
        "| metric | p50 | p99 | max |",
        "| --- | --- | --- | --- |",
        f"| acknowledgement (s) | {f(ack['p50'])} | {f(ack['p99'])} | {f(ack['max'])} |",  # type: ignore[index]
        f"| final answer (s) | {f(final['p50'])} | {f(final['p99'])} | {f(final['max'])} |",  # type: ignore[index]
        "",
        f"acknowledged within 3 s: {result['acked_within_3s']}/{result['users']}; wall {result['wall_s']} s",
        f"outcomes: {v['answer']} answers, {v['error']} clear errors, {v['waiting']} still waiting at the timeout, "  # type: ignore[index]
        f"{v['lost']} lost, {v['doubled']} doubled",  # type: ignore[index]
        f"answers/s: {result['answers_per_s']} vs the engine alone "
        f"{(result['engine_alone'] or {}).get('answers_per_s')}"  # type: ignore[attr-defined]
        f" ({result['vs_engine_alone']}x); database {result['database']}",
        f"forgotten: {result['forgotten']}",
        f"cores used during the run (2 on this machine): {result['cores_used']}; answers per engine core "
        f"vs the engine alone: {result['per_engine_core_vs_alone']}x",
        f"Discord 429s: {result['discord_429s']}; load average after: {result['load_average']}",
        f"bot alive after: {result['bot_alive_after']}",
        "",
        "| REST calls per interaction | route |",
        "| ---: | --- |",
        *(f"| {n / result['users']:.2f} | `{route}` |" for route, n in result["rest_calls_by_route"].items()),  # type: ignore[attr-defined,operator]
        "",
        "| command | n | final p50 (s) |",
        "| --- | --- | --- |",
    ]
    for command, row in result["by_command"].items():  # type: ignore[union-attr]
        lines.append(f"| {command} | {row['n']} | {f(row['final_p50_s'])} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Parse arguments, run, print (and write) the report; exit 1 if anything was lost or doubled."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for every final answer")
    parser.add_argument("--engine-url", help="use this running engine instead of starting one")
    parser.add_argument("--engine-token", help="its MIRAGE_ENGINE_TOKEN")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--engine-sample", type=int, default=200,
                        help="requests for the engine-alone run (0: none, e.g. for an acknowledgement-only run)")
    parser.add_argument("--tag", default="", help="suffix of the results files")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write bench/results")
    args = parser.parse_args()
    if args.users < 1:
        parser.error(f"--users must be at least 1, got {args.users}")
    result = asyncio.run(run(args))
    report = markdown(result)
    print(report)
    if not args.no_write:
        write_results(f"load_bot_{args.tag}" if args.tag else "load_bot", result, report)
    clean = (
        result["exactly_one_outcome_each"]
        and result["verdicts"]["waiting"] == 0  # type: ignore[index]
        and result["forgotten"]["total"] == 0  # type: ignore[index]
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
