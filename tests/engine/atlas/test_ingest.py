"""Ingestion end to end: generated sources with bad rows → the tiny CLIP → both real store backends."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.atlas.ingest import index_roco_layout, ingest
from engine.atlas.parquet import read_parquet
from engine.atlas.roco import read_roco_layout
from tests.engine.atlas.encoders import CountingEncoder, EncoderStopped, ImagesOnlyEncoder
from tests.engine.atlas.fixtures import LARGE_ID, PARQUET_MAX_PIXELS


def report_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_roco_run_stores_the_good_and_reports_every_bad_row(roco_tree, store, clip_encoder, tmp_path: Path):
    root, expected = roco_tree
    report_path = tmp_path / "problems.jsonl"
    report = ingest(read_roco_layout(root), store, clip_encoder, batch_size=4, workers=2,
                    progress=False, report_path=report_path)

    assert report.added == len(expected.added) == store.count()
    assert report.rejected == expected.rejected_counts
    assert report.warnings == expected.warnings
    assert report.seen == expected.seen and report.skipped_existing == 0
    assert report.images_per_s > 0
    lines = report_lines(report_path)
    fatal = {(line["reason"], line["id"]) for line in lines if not line["kept"]}
    assert fatal == {(reason, i) for reason, ids in expected.rejected.items() for i in ids}
    assert all(line["detail"] for line in lines)
    assert {line["reason"] for line in lines if line["kept"]} == {"malformed_line"}


def test_payload_has_source_fields_modality_and_a_shrunk_image(roco_tree, edge_store, clip_encoder):
    root, _ = roco_tree
    ingest(read_roco_layout(root), edge_store, clip_encoder, progress=False, image_max_side=256)

    [hit] = edge_store.retrieve([LARGE_ID])
    payload = hit.payload
    assert payload.caption.startswith("Chest radiograph")
    assert (payload.pmc_id, payload.licence, payload.split) == ("PMC4000000", "CC BY-NC", "train")
    assert payload.modality == "x-ray"
    assert payload.keywords == ["chest", "radiograph"]
    assert payload.image_path.endswith("train/radiology/images/ROCO_00001.jpg")
    image = Image.open(io.BytesIO(edge_store.image(LARGE_ID)))
    assert image.format == "JPEG" and max(image.size) == 256  # drawn 900×700


def test_stored_vector_is_the_encoders_image_embedding(roco_tree, edge_store, clip_encoder):
    root, _ = roco_tree
    ingest(read_roco_layout(root, splits=["validation"]), edge_store, clip_encoder, progress=False)
    [hit] = edge_store.retrieve(["ROCO_00101"], with_vectors=True)
    path = root / "data" / "validation" / "radiology" / "images" / "ROCO_00101.jpg"
    direct = clip_encoder.encode_images([Image.open(path).convert("RGB")])[0]
    assert float(np.dot(hit.vector, direct)) > 0.999


def test_running_again_is_a_no_op_that_embeds_nothing(roco_tree, store, clip_encoder):
    root, expected = roco_tree
    ingest(read_roco_layout(root), store, clip_encoder, batch_size=8, progress=False)
    counting = CountingEncoder(clip_encoder)

    again = ingest(read_roco_layout(root), store, counting, batch_size=8, progress=False)

    assert counting.embedded == 0
    assert again.added == 0
    assert again.skipped_existing == len(expected.added)
    assert again.rejected == expected.rejected_counts  # bad rows are still reported, every run
    assert store.count() == len(expected.added)


def test_interrupted_run_resumes_to_exactly_the_right_points_without_reembedding(roco_tree, store, clip_encoder):
    root, expected = roco_tree
    first = CountingEncoder(clip_encoder, fail_on_call=3)  # dies while embedding the third batch
    with pytest.raises(EncoderStopped):
        ingest(read_roco_layout(root), store, first, batch_size=4, workers=2, progress=False)
    stored_before = store.count()
    assert 0 < stored_before == first.embedded < len(expected.added)  # two whole batches survived

    second = CountingEncoder(clip_encoder)
    report = ingest(read_roco_layout(root), store, second, batch_size=4, workers=2, progress=False)

    assert first.embedded + second.embedded == len(expected.added)  # nothing embedded twice
    assert report.skipped_existing == stored_before
    assert report.added == len(expected.added) - stored_before
    assert store.count() == len(expected.added)
    assert {h.atlas_id for h in store.retrieve(sorted(expected.added))} == expected.added


def test_modality_filter_in_search_is_exact_on_ingested_data(roco_tree, store, clip_encoder):
    root, expected = roco_tree
    ingest(read_roco_layout(root), store, clip_encoder, progress=False)
    query = clip_encoder.encode_text(["a radiology image"])[0]
    for modality in sorted(set(expected.modality.values())):
        ids = {i for i, m in expected.modality.items() if m == modality}
        hits = store.search(query, k=len(expected.added), modality=modality)
        assert {h.atlas_id for h in hits} == ids, modality
        assert all(h.payload.modality == modality for h in hits)
        assert store.count(modality=modality) == len(ids)


def test_parquet_mirror_with_bad_rows_and_a_pixel_limit(parquet_tree, store, clip_encoder, tmp_path: Path):
    root, expected = parquet_tree
    report = ingest(read_parquet(root), store, clip_encoder, batch_size=4, workers=3, progress=False,
                    max_pixels=PARQUET_MAX_PIXELS, report_path=tmp_path / "r.jsonl")

    assert report.rejected == expected.rejected_counts
    assert report.added == len(expected.added) == store.count()
    assert {(line["reason"], line["id"]) for line in report_lines(tmp_path / "r.jsonl")} == {
        (reason, i) for reason, ids in expected.rejected.items() for i in ids
    }
    assert store.count(modality="nuclear") == 1  # "SPECT perfusion study"


def test_encoder_without_pixel_path_falls_back_to_encode_images(roco_tree, edge_store, clip_encoder):
    root, _ = roco_tree
    encoder = ImagesOnlyEncoder(clip_encoder)
    report = ingest(read_roco_layout(root, splits=["validation"]), edge_store, encoder, workers=0, progress=False)
    assert report.added == encoder.embedded == 3 == edge_store.count()


def test_index_roco_layout_on_the_demo_atlas(demo_atlas_dir, edge_store, clip_encoder):
    report = index_roco_layout(demo_atlas_dir, edge_store, clip_encoder, progress=False)
    assert report.added == edge_store.count() == 240
    assert not report.rejected
    assert edge_store.count(modality="nuclear") > 0 and edge_store.count(modality="other") == 0


def test_bad_arguments_are_clear_errors(roco_tree, edge_store, clip_encoder):
    root, _ = roco_tree
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        ingest(read_roco_layout(root), edge_store, clip_encoder, batch_size=0)

    class OtherDim:
        dim, model_id = clip_encoder.dim + 1, "other-clip"

    with pytest.raises(ValueError, match=r"makes \d+-d ones"):
        ingest(read_roco_layout(root), edge_store, OtherDim())


def test_default_workers_decode_inline_on_cpu_and_in_threads_for_a_gpu(clip_encoder):
    from engine.atlas.ingest import default_workers

    class OnGpu:
        device = "cuda:0"

    assert default_workers(clip_encoder) == 0  # the tiny CLIP runs on the CPU here
    assert default_workers(OnGpu()) >= 1
