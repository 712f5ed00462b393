"""Search by image never echoes the uploaded file's name (often a patient's or a student's): not in what the
user or the channel sees, not in the thread name, not to the engine, not in any table of the database; and
the reply asks not to upload images that identify a patient."""

from __future__ import annotations

from sqlalchemy import text as sql

from bot.render.text import HELP_TEXT
from bot.store import Database

from .conftest import invoke
from .engine_standin import png_bytes
from .fakes import FakeAttachment, FakeInteraction

NAME = "Jane_Doe_MRN4471_chest"  # what students really call their uploads


async def _database_text(db: Database) -> str:
    """Every value of every row of every table, as one string."""
    found: list[str] = []
    async with db.session() as session:
        tables = (await session.execute(sql("SELECT name FROM sqlite_master WHERE type='table'"))).scalars()
        for table in list(tables):
            rows = (await session.execute(sql(f'SELECT * FROM "{table}"'))).all()
            found += [repr(tuple(row)) for row in rows]
    return "\n".join(found)


def _everything_shown(interaction: FakeInteraction) -> str:
    """Every text the user or the channel could see: the first response, the thread's name and messages
    (with their edits, file names and alt texts) and the private replies."""
    parts = [interaction.original.content if interaction.original else "", interaction.ephemeral_text]
    for thread in interaction.channel.threads:
        parts.append(thread.name)
        for message in thread.messages:
            parts += [message.content, repr(message.edits)]
            parts += [f"{f.filename} {f.description}" for f in message.files]
    return "\n".join(parts)


async def test_the_uploaded_file_name_appears_nowhere(engine, services, bot_db):
    interaction = FakeInteraction(services)
    upload = FakeAttachment(png_bytes((64, 64), "white"), filename=f"{NAME}.png")
    await invoke(services, "search", interaction, image=upload, k=2)

    shown = _everything_shown(interaction)
    assert "Images like your image" in shown and "ROCO_00002" in shown  # it did answer
    assert interaction.channel.threads[0].name == "Image search: your uploaded image"
    for piece in (NAME, "Jane", "MRN4471"):
        assert piece not in shown
        assert piece not in repr(engine.requests)  # the engine gets a neutral name too
        assert piece not in await _database_text(bot_db)
    (call,) = engine.calls("/v1/search/image")
    assert call["body"]["filename"] == "query.png"
    database = await _database_text(bot_db)
    assert "your uploaded image" in database and "image" in database  # the thread and the job were kept


async def test_the_reply_and_the_help_say_not_to_upload_identifiable_patient_images(engine, services):
    interaction = FakeInteraction(services)
    await invoke(services, "search", interaction, image=FakeAttachment(png_bytes(), filename="x.png"), k=1)
    assert interaction.original is not None
    assert "Never upload an image that identifies a patient" in interaction.original.content
    assert "never one that identifies a patient" in HELP_TEXT


async def test_a_refused_non_image_does_not_echo_its_name_either(engine, services):
    interaction = FakeInteraction(services)
    pdf = FakeAttachment(b"%PDF", filename=f"{NAME}.pdf", content_type="application/pdf")
    await invoke(services, "search", interaction, image=pdf)
    assert "not an image" in interaction.ephemeral_text and NAME not in interaction.ephemeral_text
    assert engine.requests == []
