"""Study sets: a server's named, ordered sets of atlas images that a teacher builds and a group plays.

A set belongs to a server (`guild_id`); its title is unique there regardless of case. Its owner (the
teacher who made it) and moderators may change or delete it; after the owner's `/mirage forget-me` the
set stays the server's with no owner (`disown`), so a course does not lose it and only moderators may
change it. The tables are registered on `models.Base` by importing this module (bot/store/__init__.py
does), so migrations, `bot.store copy` and forget-me's checks see them. Revision 0004.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from ._sql import rowcount
from .models import ATLAS_ID_LEN, Base, RowId, Snowflake, utcnow

TITLE_MAX = 100
SET_ITEMS_MAX = 50  # one quiz question per item: fifty cases is a long session already
SETS_PER_SERVER_MAX = 200


class StudySet(Base):
    """A named set of atlas images of one server."""

    __tablename__ = "study_sets"
    __table_args__ = (UniqueConstraint("guild_id", "title_key"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    title_key: Mapped[str] = mapped_column(String(TITLE_MAX))  # casefolded: "Week 3" and "week 3" are one
    owner_id: Mapped[int | None] = mapped_column(Snowflake)  # None once the owner used forget-me
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StudySetItem(Base):
    """One atlas image of a set, at its 0-based position."""

    __tablename__ = "study_set_items"
    __table_args__ = (UniqueConstraint("set_id", "atlas_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("study_sets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    atlas_id: Mapped[str] = mapped_column(String(ATLAS_ID_LEN))


class SetError(ValueError):
    """A set operation that cannot be done; the message says why, for the user."""


@dataclass(frozen=True)
class SetSummary:
    """A set as listed: its title, owner, size and last change."""

    id: int
    title: str
    owner_id: int | None
    size: int
    updated_at: datetime


@dataclass
class Added:
    """What `add_items` did: ids appended, ids the set had already, ids over the set's size limit."""

    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    over_limit: list[str] = field(default_factory=list)


def clean_title(title: str) -> str:
    """The title as stored: spaces collapsed; `SetError` when empty or too long."""
    cleaned = " ".join(title.split())
    if not cleaned:
        raise SetError("A set needs a name (1–100 characters).")
    if len(cleaned) > TITLE_MAX:
        raise SetError(f"A set's name is at most {TITLE_MAX} characters; that one has {len(cleaned)}.")
    return cleaned


def title_key(title: str) -> str:
    """The key titles are unique by in a server (case and spacing ignored)."""
    return clean_title(title).casefold()


async def create_set(
    session: AsyncSession, *, guild_id: int, title: str, owner_id: int, now: datetime | None = None
) -> StudySet:
    """A new empty set; `SetError` when the server has one of that name (any case) or too many sets."""
    cleaned = clean_title(title)
    if await find_set(session, guild_id, cleaned) is not None:
        raise SetError(f"This server already has a set named **{cleaned}**: pick another name, or add to it.")
    in_server = select(func.count()).select_from(StudySet).where(StudySet.guild_id == guild_id)
    count = await session.scalar(in_server)
    if (count or 0) >= SETS_PER_SERVER_MAX:
        raise SetError(f"This server has {count} sets, the most it may keep: delete one first.")
    at = now or utcnow()
    study_set = StudySet(
        guild_id=guild_id, title=cleaned, title_key=cleaned.casefold(), owner_id=owner_id,
        created_at=at, updated_at=at,
    )
    session.add(study_set)
    await session.flush()
    return study_set


async def find_set(session: AsyncSession, guild_id: int, title: str) -> StudySet | None:
    """The server's set of that name (any case), or None."""
    return await session.scalar(
        select(StudySet).where(StudySet.guild_id == guild_id, StudySet.title_key == title_key(title))
    )


async def get_set(session: AsyncSession, set_id: int) -> StudySet | None:
    """The set with this id (of any server: check `guild_id`), or None."""
    return await session.get(StudySet, set_id)


async def server_sets(session: AsyncSession, guild_id: int) -> list[SetSummary]:
    """The server's sets, the most recently changed first."""
    size = select(func.count()).where(StudySetItem.set_id == StudySet.id).scalar_subquery()
    rows = await session.execute(
        select(StudySet.id, StudySet.title, StudySet.owner_id, size, StudySet.updated_at)
        .where(StudySet.guild_id == guild_id)
        .order_by(StudySet.updated_at.desc(), StudySet.id.desc())
    )
    return [SetSummary(*row) for row in rows.all()]


async def set_items(session: AsyncSession, set_id: int) -> list[str]:
    """The set's atlas ids, in order."""
    rows = await session.scalars(
        select(StudySetItem.atlas_id)
        .where(StudySetItem.set_id == set_id)
        .order_by(StudySetItem.position, StudySetItem.id)
    )
    return list(rows.all())


async def add_items(
    session: AsyncSession, study_set: StudySet, atlas_ids: list[str], *, now: datetime | None = None
) -> Added:
    """Append the ids the set lacks, in the given order, up to SET_ITEMS_MAX."""
    have = await set_items(session, study_set.id)
    known, result = set(have), Added()
    for atlas_id in dict.fromkeys(atlas_ids):
        if atlas_id in known:
            result.already.append(atlas_id)
        elif len(have) + len(result.added) >= SET_ITEMS_MAX:
            result.over_limit.append(atlas_id)
        else:
            result.added.append(atlas_id)
    for offset, atlas_id in enumerate(result.added):
        session.add(StudySetItem(set_id=study_set.id, position=len(have) + offset, atlas_id=atlas_id))
    if result.added:
        study_set.updated_at = now or utcnow()
    await session.flush()
    return result


async def remove_items(
    session: AsyncSession, study_set: StudySet, atlas_ids: list[str], *, now: datetime | None = None
) -> tuple[list[str], list[str]]:
    """Remove these ids from the set, the others keep their order; returns (removed, not in the set)."""
    have = await set_items(session, study_set.id)
    wanted = list(dict.fromkeys(atlas_ids))
    removed = [i for i in wanted if i in have]
    absent = [i for i in wanted if i not in have]
    if removed:
        await session.execute(
            delete(StudySetItem)
            .where(StudySetItem.set_id == study_set.id, StudySetItem.atlas_id.in_(removed))
            .execution_options(synchronize_session=False)
        )
        for position, atlas_id in enumerate(i for i in have if i not in removed):  # close the gaps
            await session.execute(
                update(StudySetItem)
                .where(StudySetItem.set_id == study_set.id, StudySetItem.atlas_id == atlas_id)
                .values(position=position)
                .execution_options(synchronize_session=False)
            )
        study_set.updated_at = now or utcnow()
    await session.flush()
    return removed, absent


async def delete_set(session: AsyncSession, study_set: StudySet) -> int:
    """Delete the set and its items; returns how many items went with it."""
    items = await session.execute(
        delete(StudySetItem)
        .where(StudySetItem.set_id == study_set.id)
        .execution_options(synchronize_session=False)
    )
    await session.delete(study_set)
    await session.flush()
    return rowcount(items)


async def touch(session: AsyncSession, study_set: StudySet, *, now: datetime | None = None) -> None:
    """Mark the set as the server's most recently used (the Add-to-set button offers it first)."""
    study_set.updated_at = now or utcnow()
    await session.flush()


async def count_owned(session: AsyncSession, user_id: int) -> int:
    """How many sets name this user as owner (forget-me's prompt)."""
    owned = select(func.count()).select_from(StudySet).where(StudySet.owner_id == user_id)
    return int(await session.scalar(owned) or 0)


async def disown(session: AsyncSession, user_id: int) -> int:
    """Forget-me: the user's sets stay their servers', without an owner; returns how many."""
    result = await session.execute(
        update(StudySet)
        .where(StudySet.owner_id == user_id)
        .values(owner_id=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
