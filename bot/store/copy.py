"""Copy every row from one bot database to another, e.g. from the SQLite file to PostgreSQL.

1. the source must be at this code's newest revision (upgrade it first), and is only read;
2. the target is upgraded to the same revision and must be empty (nothing is ever overwritten);
3. every table of `models.Base` (study sets included) is copied, parents first, in batches, in one
   transaction on the target;
4. on PostgreSQL, the id sequences are moved past the copied ids so new rows do not collide.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from . import sets as _sets  # noqa: F401  the study-set tables: registered on Base.metadata, so copied too
from .database import check_url, make_engine
from .models import Base
from .schema import current_revision, head_revision, open_url

BATCH_ROWS = 1000


class CopyRefused(ValueError):
    """The copy cannot start; the message says why and what to do."""


async def copy_database(source_url: str, target_url: str, *, batch_rows: int = BATCH_ROWS) -> dict[str, int]:
    """Copy all rows from `source_url` into the empty database at `target_url`; returns rows per table."""
    parsed = check_url(source_url)
    if parsed.drivername.startswith("sqlite") and not Path(parsed.database or "").is_file():
        raise CopyRefused(f"the source database file {parsed.database} does not exist")
    source = make_engine(source_url)
    target = None
    try:
        # 1. the source is at our revision
        head, at = head_revision(), await current_revision(source)
        if at != head:
            raise CopyRefused(
                f"the source database is at revision {at or 'none (empty)'}, this code at {head}: "
                "run `python -m bot.store upgrade --url SOURCE` first"
            )
        # 2. the target is upgraded and empty
        target = await open_url(target_url)
        async with target.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                present = await connection.scalar(select(func.count()).select_from(table))
                if present:
                    raise CopyRefused(f"the target database is not empty: table {table.name} has {present} rows")
        # 3. parents first, in batches
        copied: dict[str, int] = {}
        async with source.connect() as reading, target.engine.begin() as writing:
            for table in Base.metadata.sorted_tables:
                copied[table.name] = 0
                stream = await reading.stream(select(table).order_by(*table.primary_key.columns))
                async for rows in stream.partitions(batch_rows):
                    await writing.execute(table.insert(), [row._asdict() for row in rows])
                    copied[table.name] += len(rows)
            # 4. sequences past the copied ids
            if writing.dialect.name == "postgresql":
                await _advance_sequences(writing)
        return copied
    finally:
        await source.dispose()
        if target is not None:
            await target.close()


async def _advance_sequences(connection: AsyncConnection) -> None:
    for table in Base.metadata.sorted_tables:
        if "id" in table.c and table.c.id.autoincrement is not False and table.c.id.primary_key:
            sequence = await connection.scalar(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
            )
            if sequence:
                await connection.execute(
                    text(f"SELECT setval(:s, COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"),
                    {"s": sequence},
                )
