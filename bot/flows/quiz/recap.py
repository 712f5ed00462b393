"""The group recap at a quiz's end: per question the share right and the most-picked wrong answer, the
group's weakest modality, and "Review missed cases" (each student's own, privately)."""

from __future__ import annotations

import logging

import discord

from ...render import teach
from ...store import DatabaseUnavailable
from ...store.progress import quiz_recap
from ...ui.teach_views import recap_view
from .live import NO_MENTIONS, LiveQuiz, QuizContext

log = logging.getLogger(__name__)


async def post_recap(qc: QuizContext, live: LiveQuiz) -> None:
    """Post the recap in the quiz's thread (nothing when no question was answered; best effort)."""
    try:
        async with qc.db.session() as session:
            questions, weakest = await quiz_recap(session, live.quiz_id)
    except DatabaseUnavailable:
        log.warning("no recap for quiz %s: the database is unavailable", live.quiz_id)
        return
    if not any(q.answered for q in questions):
        return
    try:
        await qc.quizzes.channel(live).send(
            teach.recap_text(questions, weakest), view=recap_view(live.quiz_id), allowed_mentions=NO_MENTIONS
        )
    except discord.HTTPException:
        log.info("could not post the recap of quiz %s", live.quiz_id, exc_info=True)
