"""The store's errors: each one says what happened in words the bot can pass on or log."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised on purpose by bot/store."""


class DatabaseUnavailable(StoreError):
    """The database is down, unreachable or locked for too long: the user should simply try again."""


class SchemaTooNew(StoreError):
    """The database was upgraded by a newer MIRAGE than this code; running would risk its data."""

    def __init__(self, database_revision: str, code_head: str) -> None:
        self.database_revision = database_revision
        self.code_head = code_head
        super().__init__(
            f"this database was upgraded by a newer MIRAGE (rev {database_revision}); "
            f"this code knows up to {code_head}. Update MIRAGE, or point MIRAGE_DATABASE_URL elsewhere."
        )


class QuestionClosed(StoreError):
    """An answer or hint arrived for a question that is already revealed (or does not exist)."""


class QuizAlreadyRunning(StoreError):
    """A thread already has a running quiz; `quiz_id` is the running one."""

    def __init__(self, thread_id: int, quiz_id: int) -> None:
        self.thread_id = thread_id
        self.quiz_id = quiz_id
        super().__init__(f"thread {thread_id} already runs quiz {quiz_id}")
