"""Images outside the payload: the pack image store, and an EdgeStore created with image_storage="pack"."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from engine.store.base import IMAGE_KEY, IMAGE_REF_KEY
from engine.store.client import ClientStore
from engine.store.edge import EdgeStore
from engine.store.images import ImageRefError, PackImageStore
from engine.store.migrate import copy_atlas
from tests.engine.store.conftest import fake_jpeg, make_client, make_records


def test_pack_store_round_trip_and_rollover(tmp_path: Path) -> None:
    packs = PackImageStore(tmp_path / "img", pack_bytes=100)
    refs = [packs.write(bytes([i]) * 40) for i in range(5)]
    # 40-byte images in 100-byte packs: two per pack, the fifth starts a third pack
    assert [r.split(":")[0] for r in refs] == ["pack-00000.bin"] * 2 + ["pack-00001.bin"] * 2 + ["pack-00002.bin"]
    assert [packs.read(r) for r in refs] == [bytes([i]) * 40 for i in range(5)]
    packs.close()
    reopened = PackImageStore(tmp_path / "img", pack_bytes=100)
    assert reopened.read(refs[3]) == bytes([3]) * 40
    assert reopened.write(b"x" * 10).startswith("pack-00002.bin:40:")  # appends to the last pack
    assert reopened.disk_bytes() == 5 * 40 + 10


@pytest.mark.parametrize("ref", ["", "../etc/passwd:0:10", "pack-00000.bin:0", "pack-00009.bin:0:4", "pack-00000.bin:0:999"])
def test_pack_store_refuses_bad_refs(tmp_path: Path, ref: str) -> None:
    packs = PackImageStore(tmp_path)
    packs.write(b"abcd")
    with pytest.raises(ImageRefError):
        packs.read(ref)


def test_pack_store_refuses_empty_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        PackImageStore(tmp_path).write(b"")


def test_edge_pack_atlas_keeps_jpeg_out_of_payload(tmp_path: Path) -> None:
    records = make_records(30)
    store = EdgeStore.create(tmp_path / "atlas", 32, image_storage="pack")
    store.upsert(records)
    # the payload holds a reference, not the bytes
    raw = store._open_shard().retrieve([store_point(records[1])], with_payload=True, with_vector=False)[0].payload
    assert raw[IMAGE_KEY] is None and raw[IMAGE_REF_KEY].startswith("pack-00000.bin:")
    assert store.image("ROCO_00001") == fake_jpeg(1)
    assert store.image("ROCO_00000") is None  # a point without an image (make_records: every third)
    assert store.image("ROCO_99999") is None
    hit = store.search(records[2].vector, 1)[0]
    assert hit.atlas_id == "ROCO_00002" and hit.payload.image_jpeg_b64 is None
    store.close()
    # reopened: still a pack atlas, images still readable; new upserts go to the packs too
    again = EdgeStore.open(tmp_path / "atlas")
    assert again.images is not None and again.image("ROCO_00004") == fake_jpeg(4)
    again.upsert(make_records(40)[30:])
    assert again.image("ROCO_00031") == fake_jpeg(31)
    again.close()


def test_edge_pack_atlas_exports_bytes_to_a_payload_store(tmp_path: Path) -> None:
    source = EdgeStore.create(tmp_path / "atlas", 32, image_storage="pack")
    source.upsert(make_records(12))
    target: ClientStore = make_client()
    copy_atlas(source, target, progress=False)
    assert target.image("ROCO_00005") == fake_jpeg(5)
    exported = [r for batch in source.scroll(5) for r in batch if r.payload.atlas_id == "ROCO_00007"][0]
    assert base64.b64decode(exported.payload.image_jpeg_b64) == fake_jpeg(7)
    source.close()


def test_scrolled_records_written_back_do_not_copy_images_again(tmp_path: Path) -> None:
    """A concepts backfill scrolls with images and upserts the records again: the packs must not grow."""
    store = EdgeStore.create(tmp_path / "atlas", 32, image_storage="pack")
    store.upsert(make_records(9))
    size = store.images.disk_bytes()
    records = [r for batch in store.scroll(4) for r in batch]
    for r in records:
        r.payload.keywords = [*r.payload.keywords, "backfilled"]
    store.upsert(records)
    assert store.images.disk_bytes() == size
    assert store.image("ROCO_00008") == fake_jpeg(8)
    assert "backfilled" in store.retrieve(["ROCO_00008"])[0].payload.keywords
    store.close()


def test_payload_atlas_unchanged(tmp_path: Path) -> None:
    """An atlas created as before (the default) keeps the JPEG in the payload and has no images folder."""
    store = EdgeStore.create(tmp_path / "atlas", 32)
    store.upsert(make_records(6))
    assert store.images is None and not (tmp_path / "atlas" / "images").exists()
    raw = store._open_shard().retrieve([store_point(make_records(6)[1])], with_payload=True, with_vector=False)[0].payload
    assert base64.b64decode(raw[IMAGE_KEY]) == fake_jpeg(1) and IMAGE_REF_KEY not in raw
    assert store.image("ROCO_00001") == fake_jpeg(1)
    store.close()


def test_unknown_image_storage_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image_storage"):
        EdgeStore.create(tmp_path / "atlas", 32, image_storage="s3")  # type: ignore[arg-type]


def store_point(record) -> str:
    """The Qdrant point id of a record."""
    from engine.store.base import point_id

    return point_id(record.payload.atlas_id)
