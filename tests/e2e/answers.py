"""Reading a MIRAGE answer back from the stand-in: the thread, the status line, the answer messages.

The bot acknowledges (defer), writes a header into the original response, starts a thread on it (or,
for a button pressed inside a thread, stays there), posts a status line with a Cancel button, then the
answer messages, and finally edits the status line to ✅ / ❌ / 🛑.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn, UploadedFile

FINAL_MARKS = ("✅", "❌", "🛑")


@dataclass
class Answer:
    """Everything the bot posted for one interaction, once its status line is final."""

    record: InteractionRecord
    channel_id: int
    thread: dict | None
    status: MessageRecord
    posts: list[
        MessageRecord
    ]  # bot messages in the answer's channel after the status line (tests run one at a time)

    @property
    def ok(self) -> bool:
        return self.status.content.startswith("✅")

    @property
    def files(self) -> list[UploadedFile]:
        return [f for m in self.posts for f in m.files]

    @property
    def images(self) -> list[UploadedFile]:
        """Attachments that decode as images (raises nothing: undecodable files are simply not counted)."""
        return [f for m in self.posts for f in m.images]

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.posts)

    @property
    def footer(self) -> MessageRecord:
        """The last answer message (disclaimer, images, buttons)."""
        return self.posts[-1]


def _status_of(standin: StandIn, channel_id: int, since: float) -> MessageRecord | None:
    return next(
        (m for m in standin.messages_in(channel_id) if m.source == "channel" and m.created_at >= since), None
    )


async def wait_for_answer(standin: StandIn, record: InteractionRecord, timeout: float = 60.0) -> Answer:
    """Wait until the interaction's status line is final; return the answer (thread, status, posts)."""
    thread = None
    channel_id = record.channel_id
    if record.type == 2:
        thread = await standin.wait_for_thread(record, timeout)
        channel_id = int(thread["id"])

    def final() -> MessageRecord | None:
        status = _status_of(standin, channel_id, record.dispatched_at)
        return status if status is not None and status.content.startswith(FINAL_MARKS) else None

    status = await standin.wait_for(
        final, timeout, f"a final status line for {record.command or record.custom_id}"
    )
    posts = [
        m
        for m in standin.messages_in(channel_id)
        if m.source == "channel" and m.created_at > status.created_at and m.id > status.id
    ]
    return Answer(record, channel_id, thread, status, posts)
