"""Versioned atlases on a Qdrant server: each index run builds `<alias>-v<UTC time>`, and the alias the
engines read (MIRAGE_COLLECTION, default `roco`) moves to it in one step once the run is complete.

Engines keep answering from the old version while the new one is built; the switch is a single
`update_collection_aliases` request (delete + create), which Qdrant applies atomically, so no
engine ever sees a half-built atlas or no atlas at all. Old versions stay until dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException, ResponseHandlingException, UnexpectedResponse

# Sensible on a 3-node cluster: 6 shards put two on each node and can spread to 6 nodes without
# re-sharding; 2 replicas keep every shard served when one node is down.
DEFAULT_SHARDS = 6
DEFAULT_REPLICAS = 2


class ServerUnavailable(RuntimeError):
    """The Qdrant server cannot be used (unreachable, or it refused the API key)."""


class VersionError(ValueError):
    """A version operation that would lose data or break the alias."""


@dataclass(frozen=True)
class AtlasVersion:
    """One version collection of an alias, its number of points, and whether the alias points to it."""

    name: str
    points: int
    live: bool


def connect(url: str, api_key: str | None, *, timeout_s: int = 10) -> QdrantClient:
    """A client for the server at `url` that has answered once; ServerUnavailable naming the URL and
    the reason otherwise (connection refused, timeout, API key refused). `:memory:` is in-process."""
    client = (
        QdrantClient(location=":memory:")
        if url == ":memory:"
        else QdrantClient(url=url, api_key=api_key, timeout=timeout_s)
    )
    try:
        client.get_collections()
    except UnexpectedResponse as exc:
        client.close()
        if exc.status_code in (401, 403):
            raise ServerUnavailable(
                f"the Qdrant server at {url} refused the API key (HTTP {exc.status_code}): "
                "check MIRAGE_QDRANT_API_KEY"
            ) from None
        raise ServerUnavailable(f"the Qdrant server at {url} answered HTTP {exc.status_code} ({exc.reason_phrase})") from None
    except (ResponseHandlingException, ApiException, OSError) as exc:
        client.close()
        raise ServerUnavailable(f"cannot reach the Qdrant server at {url}: {exc}") from None
    return client


def is_version_of(name: str, alias: str) -> bool:
    """True for the collections `engine index` created for `alias`."""
    return re.fullmatch(re.escape(alias) + r"-v\d{14}", name) is not None


def new_version_name(alias: str, now: datetime | None = None) -> str:
    """`<alias>-v<YYYYmmddHHMMSS>` (UTC): versions sort by age."""
    return f"{alias}-v{(now or datetime.now(UTC)).strftime('%Y%m%d%H%M%S')}"


def next_version_name(client: QdrantClient, alias: str, now: datetime | None = None) -> str:
    """A new version's name: now, or a second after the newest existing version (names must stay
    unique and in order even for two runs within one second)."""
    from datetime import timedelta

    at = now or datetime.now(UTC)
    existing = [c.name for c in client.get_collections().collections if is_version_of(c.name, alias)]
    if existing:
        newest = datetime.strptime(max(existing).rsplit("-v", 1)[1], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        at = max(at, newest + timedelta(seconds=1))
    return new_version_name(alias, at)


def live_version(client: QdrantClient, alias: str) -> str | None:
    """The collection `alias` points to, or None."""
    for entry in client.get_aliases().aliases:
        if entry.alias_name == alias:
            return entry.collection_name
    return None


def check_alias_is_free(client: QdrantClient, alias: str, url: str) -> None:
    """VersionError when a plain collection carries the alias's name (an atlas from before versions)."""
    if alias in {c.name for c in client.get_collections().collections}:
        raise VersionError(
            f"{alias!r} on {url} is a collection, not an alias, so versions cannot be switched under that "
            f"name: set MIRAGE_COLLECTION to a new alias name for the versioned atlas (the old collection "
            f"stays as it is; engines read it until they are pointed at the alias)"
        )


def list_versions(client: QdrantClient, alias: str) -> list[AtlasVersion]:
    """Every version of `alias`, oldest first, with its point count (the atlas record not counted)."""
    from engine.store.base import META_POINT_ID

    live = live_version(client, alias)
    not_record = models.Filter(must_not=[models.HasIdCondition(has_id=[META_POINT_ID])])
    names = sorted(c.name for c in client.get_collections().collections if is_version_of(c.name, alias))
    return [
        AtlasVersion(name, client.count(name, count_filter=not_record, exact=True).count, name == live)
        for name in names
    ]


def unfinished_version(client: QdrantClient, alias: str) -> str | None:
    """The newest version the alias never pointed to and that is newer than the live one (an index run
    that stopped before its switch), or None."""
    versions = list_versions(client, alias)
    live = next((v.name for v in versions if v.live), None)
    newer = [v.name for v in versions if not v.live and (live is None or v.name > live)]
    return newer[-1] if newer else None


def switch_alias(client: QdrantClient, alias: str, version: str) -> str | None:
    """Point `alias` at `version` in one atomic request; returns the version it pointed to before."""
    previous = live_version(client, alias)
    actions: list = []
    if previous is not None:
        actions.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
    actions.append(
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=version, alias_name=alias))
    )
    client.update_collection_aliases(change_aliases_operations=actions)
    return previous
