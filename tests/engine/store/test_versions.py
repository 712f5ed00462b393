"""Versioned atlases on a Qdrant server, on qdrant-client's `:memory:` mode (aliases work there).

What cannot be tested here: a real cluster's shard placement and replication (the `:memory:` mode
accepts `shard_number`/`replication_factor` and ignores them), and the atomicity of the alias switch
under concurrent readers on a real server (Qdrant documents alias changes as atomic).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from engine.config import EngineSettings
from engine.store.client import ClientStore
from engine.store.provenance import AtlasProvenance, record_provenance
from engine.store.versioned import Server, finish_version, open_version, versions_report
from engine.store.versions import (
    ServerUnavailable,
    VersionError,
    connect,
    list_versions,
    live_version,
)

from .conftest import DIM, make_records

TINY = AtlasProvenance(clip_model="local:tiny-1/clip[]", dim=DIM)
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version", "ignore:Api key is used")


@pytest.fixture
def server() -> Iterator[Server]:
    client = QdrantClient(location=":memory:")
    yield Server(client, "http://qdrant.test:6333", "roco")
    client.close()


@pytest.fixture
def settings(tmp_path) -> EngineSettings:
    return EngineSettings(_env_file=None, data_dir=tmp_path)


def _build(settings, server, n: int, provenance=TINY, *, seed: int = 0) -> ClientStore:
    store, _ = open_version(settings, server, provenance, shards=6, replicas=2)
    record_provenance(store, provenance)
    store.upsert(make_records(n, seed=seed))
    return store


def _reader(server: Server) -> ClientStore:
    """What an engine opens: the alias."""
    return ClientStore(server.client, server.alias)


def test_the_alias_moves_only_when_a_version_is_complete_and_counted(settings, server):
    first = _build(settings, server, 20)
    assert live_version(server.client, "roco") is None  # engines see nothing half-built
    assert "now points to" in finish_version(server, first, 20, allow_new_model=False)
    assert _reader(server).count() == 20

    second = _build(settings, server, 35, seed=1)
    assert second.collection != first.collection
    assert _reader(server).count() == 20  # still the first version while the second is built
    with pytest.raises(VersionError, match="holds 35 images but this run stored 40"):
        finish_version(server, second, 40, allow_new_model=False)
    assert live_version(server.client, "roco") == first.collection  # never half-switched

    finish_version(server, second, 35, allow_new_model=False)
    assert _reader(server).count() == 35
    assert [(v.name, v.points, v.live) for v in list_versions(server.client, "roco")] == [
        (first.collection, 20, False), (second.collection, 35, True)]
    assert versions_report(server).splitlines()[1].startswith(f"* {second.collection}  35 images")


def test_an_empty_version_is_never_switched_to(settings, server):
    empty, _ = open_version(settings, server, TINY, shards=1, replicas=1)
    with pytest.raises(VersionError, match="holds 0 images"):
        finish_version(server, empty, 0, allow_new_model=False)


def test_an_interrupted_build_is_resumed_not_started_again(settings, server):
    partial = _build(settings, server, 10)
    again, resumed = open_version(settings, server, TINY, shards=6, replicas=2)
    assert resumed and again.collection == partial.collection and again.count() == 10
    other_model = AtlasProvenance(clip_model="hf-hub:other/clip", dim=DIM)
    fresh, resumed = open_version(settings, server, other_model, shards=6, replicas=2)
    assert not resumed and fresh.collection != partial.collection and fresh.count() == 0


def test_switching_to_another_models_version_needs_to_be_asked_for(settings, server):
    finish_version(server, _build(settings, server, 5), 5, allow_new_model=False)
    other = _build(settings, server, 5, AtlasProvenance(clip_model="hf-hub:other/clip", dim=DIM))
    with pytest.raises(VersionError, match="--new-model"):
        finish_version(server, other, 5, allow_new_model=False)
    finish_version(server, other, 5, allow_new_model=True)
    assert live_version(server.client, "roco") == other.collection


def test_old_versions_are_kept_and_the_list_says_how_to_free_one(settings, server):
    from engine.store.versioned import versions_report

    old = _build(settings, server, 4)
    finish_version(server, old, 4, allow_new_model=False)
    new = _build(settings, server, 6, seed=2)
    finish_version(server, new, 6, allow_new_model=False)
    assert [v.name for v in list_versions(server.client, "roco")] == [old.collection, new.collection]
    report = versions_report(server).splitlines()
    assert report[:2] == [f"  {old.collection}  4 images", f"* {new.collection}  6 images"]
    assert "the engine never deletes a version" in report[2]
    assert _reader(server).count() == 6


def test_a_plain_collection_under_the_alias_name_is_reported_not_replaced(settings, server):
    ClientStore(server.client, "roco", DIM).upsert(make_records(3))
    with pytest.raises(VersionError, match="'roco' on http://qdrant.test:6333 is a collection, not an alias"):
        open_version(settings, server, TINY, shards=6, replicas=2)
    assert server.client.count("roco").count == 3


def test_an_unreachable_server_fails_at_once_naming_the_url():
    with pytest.raises(ServerUnavailable, match=r"cannot reach the Qdrant server at http://127.0.0.1:9"):
        connect("http://127.0.0.1:9", None, timeout_s=2)  # port 9: nothing listens


class _RefusesEveryKey(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b'{"status": {"error": "Unauthorized"}}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_refused_api_key_fails_at_once_naming_the_url_and_the_key_setting():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusesEveryKey)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with pytest.raises(ServerUnavailable, match=rf"{url} refused the API key \(HTTP 401\).*MIRAGE_QDRANT_API_KEY"):
            connect(url, "wrong-key", timeout_s=5)
    finally:
        httpd.shutdown()
