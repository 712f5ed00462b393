"""Generated ROCO sources with known good and bad rows, and what ingesting them must report.

Bad rows: corrupt JPEG (two kinds), missing image file, empty caption, malformed caption line,
malformed licence line, a decompression bomb (a PNG whose header claims 100000×100000 pixels),
a repeated id, and (parquet) a null image, a null id and an image larger than a tight max_pixels.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

# (id, caption, keywords, modality derive_modality must give)
GOOD_TRAIN = [
    ("ROCO_00001", "Chest radiograph showing a right lower lobe opacity.", ["chest", "radiograph"], "x-ray"),
    ("ROCO_00002", "Lateral X-ray of the skull with an osteolytic lesion.", ["xray", "skull"], "x-ray"),
    ("ROCO_00003", "Axial CT scan of the abdomen showing a hypodense liver mass.", ["ct", "liver"], "ct"),
    ("ROCO_00004", "Contrast-enhanced computed tomography of the chest.", ["computed", "tomography"], "ct"),
    ("ROCO_00005", "Sagittal T2-weighted MRI of the lumbar spine.", ["mri", "spine"], "mri"),
    ("ROCO_00006", "Magnetic resonance imaging of the brain with a FLAIR lesion.", ["brain"], "mri"),
    ("ROCO_00007", "Transabdominal ultrasound of a hemorrhagic ovarian cyst.", ["ultrasound"], "ultrasound"),
    ("ROCO_00008", "Transthoracic echocardiography showing a patent ductus.", ["echocardiography"], "ultrasound"),
    ("ROCO_00009", "CT angiogram of the left leg showing a popliteal pseudoaneurysm.", ["angiograph"], "angiography"),
    ("ROCO_00010", "Left coronary arteriogram in the right anterior oblique view.", ["artery"], "angiography"),
    ("ROCO_00011", "PET/CT showing intense FDG uptake in a mediastinal node.", ["node"], "nuclear"),
    ("ROCO_00012", "Whole-body bone scintigraphy with multiple hot spots.", ["bone"], "nuclear"),
]
GOOD_VALIDATION = [
    ("ROCO_00101", "Follow-up CT of the pelvis after surgery.", ["ct"], "ct"),
    ("ROCO_00102", "Doppler sonography of the carotid artery.", ["carotid"], "ultrasound"),
    ("ROCO_00103", "Postoperative anteroposterior radiograph of the knee.", ["knee"], "x-ray"),
]
NON_RADIOLOGY = [
    ("ROCO_81828", "Clinical photograph of the smile after treatment.", ["smile", "photograph"], "other"),
    ("ROCO_81830", "Tiny pinkish papule on the neck.", ["neck", "papule"], "other"),
]
LARGE_ID = "ROCO_00001"  # drawn 900×700, to check the stored copy is shrunk


@dataclass
class Expected:
    """What ingesting a generated source must report."""

    added: set[str]
    rejected: dict[str, set[str]]  # reason -> ids (or file:line / file#row where there is no id)
    warnings: dict[str, int] = field(default_factory=dict)
    modality: dict[str, str] = field(default_factory=dict)

    @property
    def seen(self) -> int:
        return len(self.added) + sum(len(v) for v in self.rejected.values())

    @property
    def rejected_counts(self) -> dict[str, int]:
        return {reason: len(ids) for reason, ids in self.rejected.items()}


def draw_image(seed: int, size: tuple[int, int] = (64, 64), mode: str = "L") -> Image.Image:
    """A small grey image with one bright shape, different per seed."""
    img = Image.new(mode, size, 30 + (seed * 37) % 120)
    w, h = size
    x, y = (seed * 13) % (w // 2), (seed * 7) % (h // 2)
    ImageDraw.Draw(img).ellipse((x, y, x + w // 3, y + h // 3), fill=255 if mode == "L" else (255, 220, 200))
    return img


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG whose header claims `width`×`height` pixels (PIL must refuse it on open)."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = 8  # after the signature: length(4) type(4) data(13) crc(4)
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 8 + 13])) & 0xFFFFFFFF
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", crc)
    return bytes(data)


def truncated_jpeg() -> bytes:
    """A real JPEG cut in half: it opens, but its pixels cannot be decoded."""
    data = jpeg_bytes(draw_image(99, (128, 128)))
    return data[: len(data) // 2]


def write_roco_tree(root: Path) -> Expected:
    """A ROCO-layout tree (train + validation radiology, train non-radiology) with bad rows in train."""
    train = root / "data" / "train" / "radiology"
    _write_dir(train, GOOD_TRAIN, large=LARGE_ID)
    images = train / "images"
    (images / "ROCO_90001.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (images / "ROCO_90005.jpg").write_bytes(truncated_jpeg())
    (images / "ROCO_90004.jpg").write_bytes(bomb_png())  # a PNG named .jpg: PIL goes by content
    with (train / "captions.txt").open("a", encoding="utf-8") as f:
        f.write("ROCO_90001\t CT of a corrupt file.\n")
        f.write("ROCO_90005\t Radiograph whose file was cut short.\n")
        f.write("ROCO_90002\t MRI whose image was never downloaded.\n")  # no file written
        f.write("ROCO_90003\t \n")  # empty caption
        f.write("this caption line has no tab at all\n")  # malformed (line 17)
        f.write("ROCO_90004\t Ultrasound that claims ten billion pixels.\n")
        f.write("ROCO_00001\t The same id again, later in the file.\n")  # duplicate
        f.write("\n")  # blank lines are not problems
    with (train / "licences.txt").open("a", encoding="utf-8") as f:
        f.write("garbage licence line\n")

    _write_dir(root / "data" / "validation" / "radiology", GOOD_VALIDATION)
    _write_dir(root / "data" / "train" / "non-radiology", NON_RADIOLOGY)
    good = GOOD_TRAIN + GOOD_VALIDATION
    return Expected(
        added={g[0] for g in good},
        rejected={
            "corrupt_image": {"ROCO_90001", "ROCO_90005"},
            "missing_image": {"ROCO_90002"},
            "empty_caption": {"ROCO_90003"},
            "malformed_line": {"train/radiology/captions.txt:17"},
            "decompression_bomb": {"ROCO_90004"},
            "duplicate_id": {"ROCO_00001"},
        },
        warnings={"malformed_line": 1},
        modality={g[0]: g[3] for g in good},
    )


def _write_dir(folder: Path, rows: list[tuple[str, str, list[str], str]], large: str | None = None) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i, (atlas_id, *_rest) in enumerate(rows):
        size = (900, 700) if atlas_id == large else (64, 64)
        draw_image(int(atlas_id[5:]) + i, size).save(folder / "images" / f"{atlas_id}.jpg", quality=90)
    (folder / "captions.txt").write_text(
        "".join(f"{atlas_id}\t {caption}\n" for atlas_id, caption, _, _ in rows), encoding="utf-8")
    (folder / "licences.txt").write_text(
        "ROCO_ID,PMC_ID,CC\n"
        + "".join(f"{atlas_id},PMC{4000000 + i}_fig{i}.jpg,CC BY-NC\n" for i, (atlas_id, *_r) in enumerate(rows)),
        encoding="utf-8")
    (folder / "keywords.txt").write_text(
        "".join(f"{atlas_id}\t\t" + "\t".join(kw) + "\n" for atlas_id, _, kw, _ in rows), encoding="utf-8")
    (folder / "semtypes.txt").write_text(
        "".join(f"{atlas_id}\t\tT060\tDiagnostic Procedure\n" for atlas_id, *_r in rows), encoding="utf-8")


# ---- parquet ----------------------------------------------------------------------------------------

PARQUET_GOOD = [
    ("PQ_0001", "Chest X-ray with a left pleural effusion."),
    ("PQ_0002", "Axial CT of the brain with a subdural hematoma."),
    ("PQ_0003", "Coronal T1-weighted MRI of the knee."),
    ("PQ_0004", "Ultrasound of the gallbladder with stones."),
    ("PQ_0005", "Digital subtraction angiography of the renal artery."),
    ("PQ_0006", "SPECT perfusion study of the myocardium."),
    ("PQ_0007", "Panoramic radiograph of the mandible."),
    ("PQ_0008", "Abdominal CT scan after contrast."),
]
PARQUET_VALIDATION = [("PQ_0101", "MRI of the cervical spine."), ("PQ_0102", "CT of the sinuses.")]
PARQUET_TOO_LARGE = "PQ_0099"  # 1200×1000: refused when max_pixels=1_000_000
PARQUET_MAX_PIXELS = 1_000_000


def write_parquet_tree(root: Path) -> Expected:
    """data/train-0000{0,1}-of-00002.parquet + data/validation-00000-of-00001.parquet, as `datasets` writes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def struct(data: bytes | None, name: str | None) -> dict | None:
        return None if data is None and name is None else {"bytes": data, "path": name}

    rows = [(i, c, struct(jpeg_bytes(draw_image(n)), f"{i}.jpg")) for n, (i, c) in enumerate(PARQUET_GOOD)]
    rows += [
        ("PQ_0090", "CT of a corrupt image.", struct(b"not an image", "PQ_0090.jpg")),
        ("PQ_0091", "MRI row without an image.", None),
        ("PQ_0092", "", struct(jpeg_bytes(draw_image(92)), "PQ_0092.jpg")),
        (None, "A row without an id.", struct(jpeg_bytes(draw_image(93)), None)),
        ("PQ_0094", "PET bomb.", struct(bomb_png(), "PQ_0094.png")),
        ("PQ_0001", "The first id again.", struct(jpeg_bytes(draw_image(95)), "PQ_0001.jpg")),
        (PARQUET_TOO_LARGE, "A large radiograph.", struct(jpeg_bytes(draw_image(96, (1200, 1000))), "x.jpg")),
    ]
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("image", image_type), ("image_id", pa.string()), ("caption", pa.string())])

    def table(part: list) -> pa.Table:
        return pa.table({"image": [r[2] for r in part], "image_id": [r[0] for r in part],
                         "caption": [r[1] for r in part]}, schema=schema)

    data = root / "data"
    data.mkdir(parents=True)
    half = len(rows) // 2
    pq.write_table(table(rows[:half]), data / "train-00000-of-00002.parquet", row_group_size=3)
    pq.write_table(table(rows[half:]), data / "train-00001-of-00002.parquet", row_group_size=3)
    validation = [(i, c, struct(jpeg_bytes(draw_image(200 + n)), None)) for n, (i, c) in enumerate(PARQUET_VALIDATION)]
    pq.write_table(table(validation), data / "validation-00000-of-00001.parquet")
    null_id_row = rows.index(next(r for r in rows if r[0] is None))
    null_id_where = (f"train-0000{0 if null_id_row < half else 1}-of-00002.parquet"
                     f"#{null_id_row if null_id_row < half else null_id_row - half}")
    return Expected(
        added={i for i, _ in PARQUET_GOOD + PARQUET_VALIDATION},
        rejected={
            "corrupt_image": {"PQ_0090"},
            "missing_image": {"PQ_0091"},
            "empty_caption": {"PQ_0092"},
            "malformed_line": {null_id_where},
            "decompression_bomb": {"PQ_0094"},
            "duplicate_id": {"PQ_0001"},
            "image_too_large": {PARQUET_TOO_LARGE},
        },
    )


def write_raw_bytes_parquet(path: Path, n: int = 3) -> list[str]:
    """One parquet file whose `image` column is plain bytes (another mirror's layout); returns the ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [f"RAW_{k:04d}" for k in range(n)]
    pq.write_table(pa.table({
        "image": pa.array([jpeg_bytes(draw_image(300 + k)) for k in range(n)], type=pa.binary()),
        "image_id": ids,
        "caption": [f"Plain radiograph number {k}." for k in range(n)],
    }), path)
    return ids
