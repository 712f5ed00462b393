"""Where a quiz's items come from: the engine's pool (a modality filter, a topic or a concept), minus the
items this quiz already asked and the items this server retired by reports.

The engine picks an item by seed; the bot cannot tell it what to leave out, so an item asked before or
retired is answered by asking again with a new seed (FRESH_ITEM_TRIES). A retired item is never asked;
an item asked before is asked again only when the pool has nothing fresh left.
"""

from __future__ import annotations

import logging
import random

from engine.contract import SEED_MAX, QuizRequest, QuizResponse

from ...engine_client import EngineError
from ...render import quiz_fair as render
from ...rules.quiz_fair import QuizPool
from ...store import reports
from ...store.errors import DatabaseUnavailable
from .live import QuizContext

log = logging.getLogger(__name__)

FRESH_ITEM_TRIES = 5  # new seeds to try when the engine picks an image asked before or retired


def new_seed() -> int:
    """A random seed for the engine's item choice."""
    return random.randint(0, SEED_MAX)


def quiz_request(pool: QuizPool, seed: int) -> QuizRequest:
    """The engine request for one question of `pool` (checked by `rules.quiz_fair.pool_problem` first)."""
    # validated from plain values: kind and modality are checked against the contract's literals here
    return QuizRequest.model_validate(
        {"kind": pool.kind, "modality": pool.modality, "topic": pool.topic, "concept": pool.concept, "seed": seed}
    )


async def retired_items(qc: QuizContext, guild_id: int | None) -> set[str]:
    """The items reports retired in this server (none when the database cannot say right now)."""
    try:
        async with qc.db.session() as session:
            return await reports.retired_items(session, guild_id)
    except DatabaseUnavailable:
        log.warning("could not read the retired items of server %s; asking without them", guild_id)
        return set()


async def fresh_question(qc: QuizContext, pool: QuizPool, used: set[str], guild_id: int | None) -> QuizResponse:
    """A question from the engine on an item neither retired here nor (when the pool allows) asked before;
    EngineError `too_few_items` when every try named a retired item."""
    retired = await retired_items(qc, guild_id)
    again: QuizResponse | None = None
    for _ in range(1 + FRESH_ITEM_TRIES):
        response = await qc.engine.quiz(quiz_request(pool, new_seed()))
        if response.item.id in retired:
            continue
        if response.item.id not in used:
            return response
        again = again or response
    if again is not None:
        return again
    raise EngineError(render.ALL_RETIRED, code="too_few_items", status=409)
