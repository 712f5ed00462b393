"""The parquet-mirror reader: HF `datasets` layout, splits from file names, streaming, hub errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.atlas.items import AtlasItem, AtlasSourceError, SourceProblem
from engine.atlas.parquet import read_parquet, split_of
from tests.engine.atlas.fixtures import PARQUET_GOOD, PARQUET_VALIDATION, write_raw_bytes_parquet


def test_struct_images_become_items_with_their_split(parquet_tree):
    root, _ = parquet_tree
    items = [i for i in read_parquet(root) if isinstance(i, AtlasItem)]
    by_id = {i.atlas_id: i for i in items if i.caption}
    assert set(by_id) >= {i for i, _ in PARQUET_GOOD + PARQUET_VALIDATION}
    first = by_id["PQ_0002"]
    assert first.caption == PARQUET_GOOD[1][1]
    assert first.split == "train"
    assert first.image_bytes and first.image_bytes[:2] == b"\xff\xd8"
    assert first.image_location == "train-00000-of-00002.parquet#1"
    assert by_id["PQ_0101"].split == "validation"


def test_len_is_the_row_count_and_a_null_id_is_a_problem(parquet_tree):
    root, expected = parquet_tree
    source = read_parquet(root)
    rows = list(source)
    assert len(source) == len(rows) == 17
    problems = [r for r in rows if isinstance(r, SourceProblem)]
    assert [(p.where, p.reason) for p in problems] == [(w, "malformed_line") for w in expected.rejected["malformed_line"]]


def test_split_selection_reads_only_those_files(parquet_tree):
    root, _ = parquet_tree
    ids = {i.atlas_id for i in read_parquet(root, splits=["validation"]) if isinstance(i, AtlasItem)}
    assert ids == {i for i, _ in PARQUET_VALIDATION}
    with pytest.raises(AtlasSourceError, match=r"split\(s\) \['test'\] have no parquet files .*\['train', 'validation'\]"):
        read_parquet(root, splits=["test"])


def test_a_single_file_with_raw_bytes_images(tmp_path: Path):
    ids = write_raw_bytes_parquet(tmp_path / "roco.parquet")
    items = list(read_parquet(tmp_path / "roco.parquet", splits=["train"]))
    assert [i.atlas_id for i in items] == ids
    assert all(i.image_bytes and i.split == "train" for i in items)


@pytest.mark.parametrize(
    ("name", "split"),
    [("train-00000-of-00004.parquet", "train"), ("validation.parquet", "validation"),
     ("valid_0.parquet", "validation"), ("test/part-0.parquet", "test"), ("roco.parquet", None)],
)
def test_split_of_file_names(name: str, split: str | None):
    assert split_of(Path("/x") / name) == split


def test_wrong_columns_and_missing_sources_are_clear_errors(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"img": [b"x"], "text": ["y"]}), tmp_path / "other.parquet")
    with pytest.raises(AtlasSourceError, match=r"lacks the 'image' and 'caption' columns; it has \['img', 'text'\]"):
        read_parquet(tmp_path / "other.parquet")
    with pytest.raises(AtlasSourceError, match="neither a file, a directory nor a hub dataset id"):
        read_parquet(tmp_path / "missing.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AtlasSourceError, match="no .parquet files under"):
        read_parquet(tmp_path / "empty")


def test_hub_id_offline_and_not_cached_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AtlasSourceError) as err:
        read_parquet("eltorio/ROCO-radiology", splits=["train"], cache_dir=tmp_path / "hub")
    message = str(err.value)
    assert "'eltorio/ROCO-radiology'" in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "--parquet DIR" in message
