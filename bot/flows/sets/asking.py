"""The questions of a quiz played over a study set: one per item, in the set's order.

The engine asks an explicit item when `/v1/quiz` gets `item_ids` holding just that id (its pool is then
that one item; the distractors still come from the whole atlas). An item the engine cannot make a fair
question of (409 `too_few_items`) is passed over for the next one, so a set's quiz never falls back to
random atlas images.
"""

from __future__ import annotations

import logging
import random

from engine.contract import SEED_MAX, QuizRequest, QuizResponse

from ...engine_client import EngineError
from ...store import quizzes
from ..quiz.live import LiveQuiz, QuizContext

log = logging.getLogger(__name__)


async def ask_item(qc: QuizContext, kind: str, remaining: list[str]) -> QuizResponse:
    """A question on the first of `remaining` the engine can ask; EngineError when it can ask none."""
    refused: EngineError | None = None
    for atlas_id in remaining:
        request = QuizRequest.model_validate(
            {"kind": kind, "item_ids": [atlas_id], "seed": random.randint(0, SEED_MAX)}
        )  # the kind string is checked against the contract's literal here
        try:
            return await qc.engine.quiz(request)
        except EngineError as error:
            if error.code != "too_few_items":
                raise
            log.info("study set item %s cannot be asked: %s", atlas_id, error.message)
            refused = error
    raise refused or EngineError("this study set has no images left to ask", code="too_few_items", status=409)


async def set_question(qc: QuizContext, live: LiveQuiz) -> QuizResponse | None:
    """The next question of a quiz over a study set (the first of its items not asked yet); None for a
    quiz that is not over a set. The ids are read from the quiz's row, so a restarted bot goes on too."""
    async with qc.db.session() as session:
        quiz = await quizzes.get_quiz(session, live.quiz_id)
    ids = quiz.item_ids if quiz is not None else None
    if not ids:
        return None
    return await ask_item(qc, live.kind, [i for i in ids if i not in live.used])
