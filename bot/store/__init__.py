"""The bot's database: what must outlive the process (threads, jobs, follow-ups, quizzes, cards, scores).

Start-up (in `setup_hook`), once per process::

    from bot.store import open_database
    self.db = await open_database(settings)   # upgrades the schema; SchemaTooNew / DatabaseUnavailable
    ...
    await self.db.close()                     # in close()

One unit of work per interaction; query functions take the session as first argument::

    from bot.store import threads, turns
    async with db.session() as session:       # commits at the end, rolls back on error
        thread = await threads.get_thread(session, thread_id)

Modules, one per aggregate (every time is an aware UTC datetime; `now=` defaults to the clock):

- `threads`: remember_thread, get_thread, extend_hits — an answer thread's command, query, hit ids.
- `jobs`: save_job, update_job, get_job, jobs_of, interrupt (at shutdown), interrupt_unfinished (at start).
- `turns`: add_turn, thread_turns — follow-up questions and answers.
- `quizzes`: start_quiz (QuizAlreadyRunning), running_quiz, running_quizzes, add_question,
  get_question, quiz_questions, open_questions, reveal_question, finish_quiz.
- `answers`: record_answer (→ Recorded(choice, previous); QuestionClosed), record_answers (a batch),
  record_hint, question_answers, answer_count.
- `settle`: settle_question — reveal + score + rate FSRS cards in one go; None if already settled.
- `cards`: review, review_all (many students, one item), rerate (four ratings), due_cards, due_count,
  get_card, rating_for, default_scheduler.
- `scores`: award (every player of a question at once), leaderboard (all-time, or `since=week_start()`),
  quiz_scoreboard, points_for.
- `progress`: progress → Progress(due, streak_days, accuracy by modality).
- `reports`: add_report (→ Reported; idempotent per server, item and student), retired_items,
  is_retired, server_reports — questions flagged as wrong or unfair, and the items they retire.
- `people`: count_user_rows, forget_user — everything about one user (their texts in answer threads too).
- `sets`: create_set, find_set, server_sets, set_items, add_items, remove_items, delete_set, disown — study
  sets (revision 0004).
- `retention`: expire_old_texts — turns, jobs and thread queries older than MIRAGE_RETENTION_DAYS.

Errors (`errors`): DatabaseUnavailable (down/locked: tell the user "try again"), SchemaTooNew,
QuestionClosed ("this question is closed"), QuizAlreadyRunning (.quiz_id: link to it).

Operators: `python -m bot.store upgrade --url URL` and `python -m bot.store copy --from URL --to URL`.
"""

from . import sets as sets  # registers the study-set tables on models.Base (migrations, copy, forget-me)
from .database import Database
from .errors import DatabaseUnavailable, QuestionClosed, QuizAlreadyRunning, SchemaTooNew, StoreError
from .schema import open_database, open_url, upgrade_to_head

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "QuestionClosed",
    "QuizAlreadyRunning",
    "SchemaTooNew",
    "StoreError",
    "open_database",
    "open_url",
    "upgrade_to_head",
]
