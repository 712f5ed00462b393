"""Readers and a writer on one store at once: the engine searches from a thread pool while an
indexer may be writing."""

from __future__ import annotations

import threading

from engine.store.base import AtlasRecord, AtlasStore


def search_while_writing(
    store: AtlasStore, records: list[AtlasRecord], *, stored: int, readers: int, stride: int, chunk: int
) -> list[BaseException]:
    """`records[:stored]` must already be in `store`; readers search them back (each must find
    itself first) while one writer upserts the rest in chunks. Returns what any thread raised."""
    errors: list[BaseException] = []

    def reader(offset: int) -> None:
        try:
            for i in range(offset, stored, stride):
                hit = store.search(records[i].vector, 1)[0]
                assert hit.atlas_id == records[i].payload.atlas_id
        except BaseException as err:  # noqa: BLE001 - surfaced in the main thread
            errors.append(err)

    def writer() -> None:
        try:
            for start in range(stored, len(records), chunk):
                store.upsert(records[start : start + chunk])
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=reader, args=(o,)) for o in range(readers)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
