"""Review's rules, with no Discord and no database: a card's front is the question as the quiz asked it,
its choices reshuffled in an order that depends only on the card and its version (so a restart, or a
click on the message, finds the same order); the rating follows from the answer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fsrs import Rating


@dataclass(frozen=True)
class Pace:
    """How fast an answer is fast, and how slow slow (seconds; the bot's settings)."""

    fast_s: float
    slow_s: float


def shuffled_order(n_choices: int, card_id: int, version: int) -> list[int]:
    """The order the card's choices are shown in: position → index in the question's choices. Stable for
    one (card, version), different from one review to the next."""
    order = list(range(n_choices))
    random.Random(f"review:{card_id}:{version}").shuffle(order)
    return order


def review_rating(*, correct: bool, hints: int, elapsed_s: float, pace: Pace) -> Rating:
    """wrong → Again; right with hints or after a slow answer → Hard; right fast → Easy; right → Good."""
    if not correct:
        return Rating.Again
    if hints > 0 or elapsed_s >= pace.slow_s:
        return Rating.Hard
    if elapsed_s <= pace.fast_s:
        return Rating.Easy
    return Rating.Good


def ladder_of(payload: Mapping[str, Any] | None, n_choices: int) -> list[dict[str, Any]]:
    """The hint rungs a review card can give, from its question's payload (`ladder`: {text, kind,
    strike}); a rung that strikes a choice out must name one in range. Payloads without a ladder
    (questions asked before it was kept) give no hints: their texts name letters in the quiz's order."""
    rungs = []
    for rung in (payload or {}).get("ladder") or []:
        if not isinstance(rung, Mapping):
            continue
        strike = rung.get("strike")
        if rung.get("kind") == "strike" and isinstance(strike, int) and 0 <= strike < n_choices:
            rungs.append({"kind": "strike", "strike": strike, "text": str(rung.get("text", ""))})
        elif rung.get("kind") == "shows" and rung.get("text"):
            rungs.append({"kind": "shows", "text": str(rung["text"])})
    return rungs
