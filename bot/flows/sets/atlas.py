"""Which of a teacher's ids are in the atlas: asked of the engine (`GET /v1/atlas/{id}`), a few at a time."""

from __future__ import annotations

import asyncio
import re

from engine.contract import ATLAS_ID_PATTERN

from ...engine_client import EngineClient, EngineError

CHECKS_AT_ONCE = 8
ATLAS_ID = re.compile(ATLAS_ID_PATTERN)


async def in_atlas(engine: EngineClient, ids: list[str]) -> tuple[list[str], list[str]]:
    """(ids in the atlas, ids not in it), each in the given order. Another engine failure (down, busy)
    raises `EngineError`: nothing is decided on a guess."""
    gate = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def known(atlas_id: str) -> bool:
        if not ATLAS_ID.fullmatch(atlas_id):
            return False  # not even shaped like an id: the engine would refuse the path
        async with gate:
            try:
                await engine.atlas_item(atlas_id)
            except EngineError as error:
                if error.status == 404:
                    return False
                raise
        return True

    found = await asyncio.gather(*(known(i) for i in ids))
    return [i for i, ok in zip(ids, found, strict=True) if ok], [i for i, ok in zip(ids, found, strict=True) if not ok]
