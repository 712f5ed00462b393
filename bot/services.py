"""The bot's services: the shared parts (settings, engine client, queue, database, the quizzes in play)
and the one place a request from the UI meets the flow that carries it out.

A new feature adds its request to bot/requests.py, its flow under bot/flows/, and one `case` here.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
import httpx

from .config import BotSettings
from .engine_client import EngineClient
from .errors import DB_BUSY, say_privately
from .flows import ask, cancel, compare, generate, search
from .flows.context import Context
from .flows.quiz import people, play, recovery, report, review, review_cards, start, why
from .flows.quiz.live import LiveQuizzes, Poster, QuizContext
from .flows.sets import manage as set_manage
from .flows.sets import play as set_play
from .flows.sets import share as set_share
from .queue import JobQueue
from .requests import (
    Answer,
    AskFollowUp,
    AskNew,
    CancelJob,
    ChangeRating,
    Compare,
    FairAction,
    ForgetConfirmed,
    ForgetMe,
    Generate,
    ListReports,
    MoreResults,
    Progress,
    QuizAction,
    RateCard,
    ReportGiven,
    ReportQuestion,
    Request,
    Rerate,
    Review,
    ReviewAnswer,
    ReviewHint,
    Scores,
    SearchImage,
    SearchText,
    ShowCardAnswer,
    SimilarTo,
    StartQuiz,
    StopQuiz,
    StudyAction,
    TakeHint,
    TeachAction,
    WhyChoice,
)
from .set_requests import (
    AddHitsToSet,
    PickSetFor,
    SetAction,
    SetAdd,
    SetCreate,
    SetDelete,
    SetExport,
    SetImport,
    SetList,
    SetPlay,
    SetRemove,
)
from .store import Database

log = logging.getLogger(__name__)


class Services(Context):
    """Everything a flow needs, and the dispatcher from requests to flows."""

    @classmethod
    def build(
        cls,
        settings: BotSettings,
        http: httpx.AsyncClient,
        db: Database | None = None,
        poster: Poster | None = None,
    ) -> Services:
        """Wire the engine client and queue from the settings over a shared HTTP client (and the database;
        with it the quizzes, which post through `poster`, the Discord client)."""
        queue = JobQueue(
            max_concurrent=settings.engine_max_concurrent,
            per_user_cap=settings.user_open_jobs_max,
            cooldown_s=settings.user_cooldown_s,
        )
        engine = EngineClient.from_settings(http, settings)
        quiz = QuizContext(settings, engine, db, LiveQuizzes(poster, db)) if db is not None else None
        return cls(settings, engine, queue, db, quiz)

    async def handle(self, interaction: discord.Interaction[Any], request: Request) -> None:
        """Carry out `request` for `interaction` with the flow for its kind."""
        if isinstance(request, SetAction):
            await self._handle_set(interaction, request)
            return
        if isinstance(request, QuizAction | StudyAction | FairAction | TeachAction):
            await self._handle_quiz(interaction, request)
            return
        match request:
            case SearchText():
                await search.search_text(interaction, self, request)
            case SearchImage():
                await search.search_image(interaction, self, request)
            case MoreResults():
                await search.more_results(interaction, self, request)
            case SimilarTo():
                await search.similar_to(interaction, self, request)
            case Compare():
                await compare.compare(interaction, self, request)
            case Generate():
                await generate.generate(interaction, self, request)
            case CancelJob():
                await cancel.cancel(interaction, self, request)
            case AskFollowUp():
                await ask.follow_up(interaction, self, request)
            case AskNew():
                await ask.ask_new(interaction, self, request)
            case WhyChoice():
                await why.why(interaction, self, request)
            case _:
                raise TypeError(f"no flow for {type(request).__name__}")

    async def _handle_quiz(
        self, interaction: discord.Interaction[Any], request: QuizAction | StudyAction | FairAction | TeachAction
    ) -> None:
        """The quiz's and review's requests: they all need the database."""
        qc = self.quiz
        if qc is None:
            await say_privately(interaction, DB_BUSY)
            return
        match request:
            case StartQuiz():
                await start.start(interaction, qc, request)
            case Answer():
                await play.answer(interaction, qc, request)
            case TakeHint():
                await play.hint(interaction, qc, request)
            case StopQuiz():
                await play.stop(interaction, qc, request)
            case Review():
                await review.review(interaction, qc, request)
            case ShowCardAnswer():
                await review.show_answer(interaction, qc, request)
            case RateCard():
                await review.rate_card(interaction, qc, request)
            case Rerate():
                await review.rerate(interaction, qc, request)
            case ReviewAnswer():
                await review_cards.answer(interaction, qc, request)
            case ChangeRating():
                await review_cards.change_rating(interaction, qc, request)
            case ReviewHint():
                await review_cards.hint(interaction, qc, request)
            case Progress():
                await people.progress(interaction, qc, request)
            case Scores():
                await people.leaderboard(interaction, qc, request)
            case ForgetMe():
                await people.forget_me(interaction, qc, request)
            case ForgetConfirmed():
                await people.forget_confirmed(interaction, qc, request)
            case ReportQuestion():
                await report.ask_reason(interaction, qc, request)
            case ReportGiven():
                await report.report(interaction, qc, request)
            case ListReports():
                await report.list_reports(interaction, qc, request)
            case _:
                raise TypeError(f"no flow for {type(request).__name__}")

    async def _handle_set(self, interaction: discord.Interaction[Any], request: SetAction) -> None:
        """The study sets' requests (bot/flows/sets/): they need the database, and playing needs the quizzes."""
        qc = self.quiz
        if qc is None:
            await say_privately(interaction, DB_BUSY)
            return
        match request:
            case SetCreate():
                await set_manage.create(interaction, self, request)
            case SetAdd():
                await set_manage.add(interaction, self, request)
            case SetRemove():
                await set_manage.remove(interaction, self, request)
            case SetList():
                await set_manage.show(interaction, self, request)
            case SetDelete():
                await set_manage.delete(interaction, self, request)
            case PickSetFor():
                await set_manage.pick(interaction, self, request)
            case AddHitsToSet():
                await set_manage.add_hits(interaction, self, request)
            case SetExport():
                await set_share.export(interaction, self, request)
            case SetImport():
                await set_share.import_(interaction, self, request)
            case SetPlay():
                await set_play.play(interaction, qc, request)
            case _:
                raise TypeError(f"no flow for {type(request).__name__}")

    async def handle_message(self, message: discord.Message, request: AskFollowUp) -> None:
        """A follow-up asked by @mentioning the bot in a thread."""
        await ask.follow_up_message(message, self, request)

    def resume_quizzes(self) -> None:
        """Pick up the quizzes a previous process left running, in the background (resuming posts over
        REST: it needs no gateway, and start-up need not wait for it)."""
        if self.quiz is not None:
            self.quiz.quizzes.spawn(recovery.resume(self.quiz))

    async def close(self) -> None:
        """Stop the quizzes' timers and answer writer (the database keeps every quiz for the next start)."""
        if self.quiz is not None:
            await self.quiz.quizzes.close()
