"""Multi-turn follow-ups: does a third turn cost more than the first? (issue 18, performance line)

The whole engine on the tiny profile (the tests' cached models and demo atlas, the LLM behind its
batcher on the compute lane), served on loopback; POST /v1/ask timed over HTTP, as the bot calls it.
For each of N seeds, on the same three atlas images:

1. turn 1: the question alone;
2. turn 2: a follow-up carrying turn 1 (question and the answer the engine gave);
3. turn 3: a follow-up carrying turns 1 and 2 (what the bot sends: the thread's last turns).

Turns 1 and 3 are timed; turn 2 only builds the history. The engine keeps the history within
MIRAGE_ASK_HISTORY_TOKENS (default 256) of the LLM's tokens, which is what keeps the third turn's prompt,
and so its prefill and each token's attention, short. Target: median(turn 3) ≤ 1.3 × median(turn 1).

The tiny LLM writes a different number of tokens for each prompt (it stops at "### End" when it will),
so the latency is also given per generated token (from the answer's llm timing) to show the ratio is
not an artefact of shorter answers; the generated length itself is not exposed, so a fixed
max_new_tokens (the default 100) bounds it.

    .venv/bin/python bench/ask_turns.py                 # 30 seeds, writes bench/results/ask_turns.{json,md}
    .venv/bin/python bench/ask_turns.py --seeds 5 --no-write
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench.common import TEST_CACHE, write_results  # noqa: E402
from engine.tiny.demo_atlas import demo_pairs  # noqa: E402

TARGET_RATIO = 1.3
QUESTIONS = ("What does the first image show?", "And how does the second differ?",
             "Going back to your first answer: where exactly is it?")


def _ask(client: httpx.Client, ids: list[str], question: str, seed: int, history: list[dict]) -> tuple[float, dict]:
    body: dict[str, Any] = {"question": question, "context_ids": ids, "seed": seed}
    if history:
        body["history"] = history
    start = time.perf_counter()
    response = client.post("/v1/ask", json=body)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, response.json()


def run(seeds: int, history_tokens: int | None) -> dict[str, Any]:
    """Time turn 1 and turn 3 for `seeds` seeds on one tiny engine; the figures as a dict."""
    from tests.engine.api.helpers import serving_tiny_engine

    models, atlas = TEST_CACHE / "models", TEST_CACHE / "demo-roco"
    if not models.exists() or not atlas.exists():
        sys.exit(f"no tiny models at {TEST_CACHE}: run the tests once (they build them), or set MIRAGE_TEST_CACHE")
    ids = [roco_id for roco_id, _, _ in demo_pairs(atlas)[:3]]
    # no diffusion: it would load in the background while the first turns are timed
    overrides: dict[str, Any] = {"llm_max_new_tokens": 100, "enable_diffusion": False}
    if history_tokens is not None:
        overrides["ask_history_tokens"] = history_tokens
    first, third, used, per_token_first, per_token_third = [], [], [], [], []
    with tempfile.TemporaryDirectory() as data_dir, \
            serving_tiny_engine(Path(data_dir), models, atlas, **overrides) as url, \
            httpx.Client(base_url=url, timeout=120) as client:
        for seed in range(3):  # first-call costs (tokenizer, lane thread, allocator) off the figures
            _ask(client, ids, "warm up", seed, [{"question": "warm up", "answer": "warming up [1]."}])
        for seed in range(seeds):
            t1, a1 = _ask(client, ids, QUESTIONS[0], seed, [])
            history = [{"question": QUESTIONS[0], "answer": a1["answer"]}]
            _, a2 = _ask(client, ids, QUESTIONS[1], seed, history)
            history.append({"question": QUESTIONS[1], "answer": a2["answer"]})
            t3, a3 = _ask(client, ids, QUESTIONS[2], seed, history)
            first.append(t1)
            third.append(t3)
            used.append(a3["history_used"])
            per_token_first.append(a1["timings_ms"].get("llm", 0.0))
            per_token_third.append(a3["timings_ms"].get("llm", 0.0))
    med1, med3 = statistics.median(first), statistics.median(third)
    return {
        "seeds": seeds,
        "history_tokens": history_tokens if history_tokens is not None else "default (256)",
        "turn1_ms": {"median": round(med1 * 1000, 1), "p90": round(_p90(first) * 1000, 1)},
        "turn3_ms": {"median": round(med3 * 1000, 1), "p90": round(_p90(third) * 1000, 1)},
        "llm_ms_median": {"turn1": round(statistics.median(per_token_first), 1),
                          "turn3": round(statistics.median(per_token_third), 1)},
        "ratio_median": round(med3 / med1, 3),
        "turns_carried_by_turn3": dict(sorted({n: used.count(n) for n in set(used)}.items())),
        "target": TARGET_RATIO,
        "ok": med3 / med1 <= TARGET_RATIO,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def report(result: dict[str, Any]) -> str:
    """The figures as the Markdown bench/README.md quotes."""
    return (
        "| seeds | turn 1 median (p90) | turn 3 median (p90) | LLM stage median, turn 1 / 3 | ratio | target |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        f"| {result['seeds']} | {result['turn1_ms']['median']} ms ({result['turn1_ms']['p90']}) "
        f"| {result['turn3_ms']['median']} ms ({result['turn3_ms']['p90']}) "
        f"| {result['llm_ms_median']['turn1']} / {result['llm_ms_median']['turn3']} ms "
        f"| {result['ratio_median']} | ≤ {result['target']} ({'met' if result['ok'] else 'NOT met'}) |\n\n"
        f"Turns the third question carried (of 2): {result['turns_carried_by_turn3']}; "
        f"history bound: {result['history_tokens']} tokens; {result['machine']}.\n"
    )


def main() -> None:
    """Run the bench and print (and by default write) its report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--history-tokens", type=int, default=None, help="MIRAGE_ASK_HISTORY_TOKENS for the run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.seeds, args.history_tokens)
    text = report(result)
    print(text)
    if not args.no_write:
        write_results("ask_turns", result, text)


if __name__ == "__main__":
    main()
