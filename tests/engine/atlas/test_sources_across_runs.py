"""The collection each image comes from: set by every reader, stored in the payload, and used to refuse
an id that a later run brings from another collection (issue 21: duplicate ids across two sources,
refused with both names), while a re-run of the same collection still resumes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from engine.__main__ import main
from engine.atlas.figures import read_figures
from engine.atlas.ingest import ingest
from engine.atlas.items import AtlasItem
from engine.atlas.parquet import read_parquet
from engine.atlas.roco import read_roco_layout
from engine.atlas.rocov2 import read_rocov2_layout
from engine.config import get_settings
from engine.store.base import AtlasPayload, AtlasRecord
from tests.engine.atlas.fixtures import draw_image, jpeg_bytes
from tests.engine.atlas.test_collections import ENGLISH, write_rocov2


def _figure_rows(ids: list[str], *, source: str | None, seed: int) -> list[dict]:
    rows = []
    for n, atlas_id in enumerate(ids):
        row = {"id": atlas_id, "image_b64": base64.b64encode(jpeg_bytes(draw_image(seed + n))).decode(),
               "caption": ENGLISH.format(["upper", "middle", "lower"][n % 3]), "licence": "CC BY 4.0"}
        rows.append(row | ({"source": source} if source else {}))
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_later_run_cannot_take_an_id_from_another_collection(tmp_path: Path, settings_env: Path, capsys) -> None:
    pmcoa = _write_jsonl(tmp_path / "pmcoa.jsonl", _figure_rows(["PMC1_fig0", "PMC1_fig1"], source="PMC-OA", seed=0))
    # no `source` key: the collection is the file's stem
    medpix = _write_jsonl(tmp_path / "medpix.jsonl", _figure_rows(["PMC1_fig0", "MPX_7"], source=None, seed=20))
    run = ["--no-progress", "--batch-size", "4"]

    assert main(["index", "--figures", str(pmcoa), *run]) == 0
    assert "added 2," in capsys.readouterr().out

    assert main(["index", "--figures", str(medpix), *run]) == 0
    out = capsys.readouterr().out
    assert "added 1, already stored 0, rejected 1" in out and "duplicate_id 1" in out and "atlas: 3 images" in out
    lines = [json.loads(x) for x in (settings_env / "index-report.jsonl").read_text().splitlines()]
    assert lines == [{"id": "PMC1_fig0", "reason": "duplicate_id", "kept": False,
                      "detail": "id 'PMC1_fig0' is already in the atlas from PMC-OA; refused from medpix"}]

    assert main(["index", "--figures", str(pmcoa), *run]) == 0  # the same collection again: a resume
    out = capsys.readouterr().out
    assert "added 0, already stored 2, rejected 0" in out and "duplicate_id" not in out

    from engine.store.factory import open_configured_store

    with open_configured_store(get_settings(), 1) as atlas:
        stored = {h.atlas_id: h.payload for h in atlas.retrieve(["PMC1_fig0", "PMC1_fig1", "MPX_7"])}
    assert {i: p.source for i, p in stored.items()} == {"PMC1_fig0": "PMC-OA", "PMC1_fig1": "PMC-OA", "MPX_7": "medpix"}
    assert stored["PMC1_fig0"].caption == ENGLISH.format("upper")  # never overwritten by medpix's row


def _figure_item(atlas_id: str, source: str | None, seed: int = 3) -> AtlasItem:
    return AtlasItem(atlas_id=atlas_id, caption=ENGLISH.format("lower"), licence="CC BY",
                     image_bytes=jpeg_bytes(draw_image(seed)), image_location=f"figures.jsonl:{seed}", source=source)


def test_roco_ids_are_refused_from_another_collection_but_resumed_from_roco(
        roco_tree, store, clip_encoder, tmp_path: Path) -> None:
    root, expected = roco_tree
    ingest(read_roco_layout(root), store, clip_encoder, progress=False)
    roco_id = sorted(expected.added)[0]
    assert store.retrieve([roco_id])[0].payload.source == "ROCO"

    report_path = tmp_path / "second.jsonl"
    report = ingest([_figure_item(roco_id, "PMC-OA")], store, clip_encoder, progress=False, report_path=report_path)
    assert (report.seen, report.added, report.skipped_existing, report.rejected) == (1, 0, 0, {"duplicate_id": 1})
    assert f"id '{roco_id}' is already in the atlas from ROCO; refused from PMC-OA" in report_path.read_text()
    assert "duplicate_id 1" in report.summary()
    assert store.retrieve([roco_id])[0].payload.source == "ROCO"  # the stored point is kept

    again = ingest([_figure_item(roco_id, "ROCO")], store, clip_encoder, progress=False)
    assert (again.added, again.skipped_existing, again.rejected) == (0, 1, {})


def test_an_atlas_that_does_not_say_its_collection_keeps_the_resume_rule(store, clip_encoder) -> None:
    vector = clip_encoder.encode_images([draw_image(1)])[0]
    store.upsert([AtlasRecord(vector, AtlasPayload(atlas_id="OLD_1", caption="an old point"))])  # no source
    assert "source" not in AtlasPayload(atlas_id="OLD_1", caption="x").to_dict()  # old payloads unchanged
    assert store.existing_sources(["OLD_1", "NOT_THERE"]) == {"OLD_1": None}

    report = ingest([_figure_item("OLD_1", "PMC-OA"), _figure_item("NEW_1", None)], store, clip_encoder,
                    progress=False)
    assert (report.added, report.skipped_existing, report.rejected) == (1, 1, {})
    assert store.existing_sources(["OLD_1", "NEW_1"]) == {"OLD_1": None, "NEW_1": None}
    assert store.existing_ids(["OLD_1", "NEW_1", "NOT_THERE"]) == {"OLD_1", "NEW_1"}


def test_every_reader_names_its_collection(roco_tree, parquet_tree, tmp_path: Path) -> None:
    def sources(items) -> set[str | None]:
        return {i.source for i in items if isinstance(i, AtlasItem)}

    assert sources(read_roco_layout(roco_tree[0])) == {"ROCO"}
    assert sources(read_parquet(str(parquet_tree[0]))) == {"ROCO"}
    write_rocov2(tmp_path / "v2")
    assert sources(read_rocov2_layout(tmp_path / "v2")) == {"ROCOv2"}
    image = jpeg_bytes(draw_image(5))
    pq.write_table(pa.table({"id": ["A_1", "A_2"], "caption": ["x", "y"], "image": [image, image],
                             "source": ["PMC-OA", " "]}), tmp_path / "pmc_part1.parquet")
    assert [i.source for i in read_figures(tmp_path / "pmc_part1.parquet") if isinstance(i, AtlasItem)] == [
        "PMC-OA", "pmc_part1"]  # a blank source column falls back to the file's stem
