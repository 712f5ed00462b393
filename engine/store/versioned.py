"""Filling a Qdrant server's atlas as a new version, then switching the alias (`engine index`, `migrate`).

    1. connect (fail fast: unreachable server or refused API key, before any model loads)
    2. open a version: the unfinished one of an interrupted run (resumed), else a new one
    3. (the caller fills it: ingestion, or a copy)
    4. check: the version holds every image the run stored
    5. switch the alias in one atomic request — only then do the engines see the new atlas

A run that stops anywhere before 5 leaves the alias where it was (engine/store/versions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from qdrant_client import QdrantClient

from engine.config import EngineSettings
from engine.store.base import AtlasStore
from engine.store.client import read_collection_meta
from engine.store.provenance import AtlasProvenance
from engine.store.versions import (
    VersionError,
    check_alias_is_free,
    connect,
    list_versions,
    live_version,
    next_version_name,
    switch_alias,
    unfinished_version,
)


@dataclass
class Server:
    """A connected Qdrant server and the alias the engines read."""

    client: QdrantClient
    url: str
    alias: str


def connect_server(settings: EngineSettings, url: str | None = None, alias: str | None = None) -> Server:
    """Step 1: the server (default: the configured one), answering and accepting the API key
    (ServerUnavailable naming the URL and the reason if not); `alias` defaults to MIRAGE_COLLECTION."""
    url = url or settings.qdrant_url
    assert url
    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return Server(connect(url, key), url, alias or settings.collection)


def open_version(
    settings: EngineSettings, server: Server, current: AtlasProvenance, *, shards: int, replicas: int
) -> tuple[AtlasStore, bool]:
    """Step 2: the version to fill, and whether it resumes an interrupted run (the newest version the
    alias never pointed to, filled by the same CLIP model); otherwise a new, empty version."""
    from engine.store.factory import open_server_version

    check_alias_is_free(server.client, server.alias, server.url)
    name = unfinished_version(server.client, server.alias)
    if name is not None:
        recorded = _provenance(server.client, name)
        if recorded is not None and (recorded.clip_model, recorded.dim) != (current.clip_model, current.dim):
            name = None  # another model's unfinished build: left as it is, not mixed into
    store = open_server_version(
        settings, server.client, name or next_version_name(server.client, server.alias), current.dim,
        shards=shards, replicas=replicas,
    )
    return store, name is not None


def finish_version(server: Server, store: AtlasStore, expected: int, *, allow_new_model: bool) -> str:
    """Steps 4–5: check the version, then point the alias at it; returns what was done, in words.

    VersionError (alias untouched) when the count is off, the version is empty, or the live version
    was filled by another CLIP model and `allow_new_model` is not set (running engines would search
    vectors of a model they do not run).
    """
    from engine.store.client import ClientStore

    assert isinstance(store, ClientStore)
    name = store.collection
    stored = store.count()
    if stored == 0 or stored != expected:
        raise VersionError(
            f"version {name!r} holds {stored} images but this run stored {expected}: the alias "
            f"{server.alias!r} stays where it was; run the same command again to complete it"
        )
    previous = live_version(server.client, server.alias)
    if previous is not None and previous != name and not allow_new_model:
        before, now = _provenance(server.client, previous), _provenance(server.client, name)
        if before is not None and now is not None and before.clip_model != now.clip_model:
            raise VersionError(
                f"the live version {previous!r} was indexed with CLIP {before.clip_model!r}, this one with "
                f"{now.clip_model!r}: engines still running the old model would search the new vectors. "
                "Pass --new-model to switch anyway, then restart every engine with the new MIRAGE_CLIP_MODEL"
            )
    switch_alias(server.client, server.alias, name)
    was = f" (was {previous!r}, kept: see --list-versions)" if previous and previous != name else ""
    return f"alias {server.alias!r} on {server.url} now points to {name!r} ({stored} images){was}"


def versions_report(server: Server) -> str:
    """`--list-versions`: one line per version, the live one marked, and how to remove an old one.

    The engine never deletes an atlas: an old version is a whole index run someone paid for, and
    the one to fall back to. An operator who wants the space back deletes it with Qdrant itself.
    """
    versions = list_versions(server.client, server.alias)
    if not versions:
        return f"no versions of {server.alias!r} on {server.url}"
    lines = [f"{'*' if v.live else ' '} {v.name}  {v.points} images" for v in versions]
    if any(not v.live for v in versions):
        lines.append(f"(the engine never deletes a version; to free an old one: "
                     f"curl -X DELETE {server.url.rstrip('/')}/collections/NAME, with your api-key header)")
    return "\n".join(lines)


def _provenance(client: QdrantClient, collection: str) -> AtlasProvenance | None:
    """The record of a version collection, read without opening it as a store (no index creation)."""
    meta = read_collection_meta(client, collection)
    return AtlasProvenance.from_meta(meta) if meta else None
