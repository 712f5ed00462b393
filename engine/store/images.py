"""The atlas's images outside the vector store: append-only pack files next to it.

At ROCO's size (81k) each point's payload can carry its downsized JPEG; at PMC-OA's (1.6M, ~96 GB
of JPEGs) that makes every segment merge of the index rewrite the images, puts them twice on disk
during the build (write-ahead log and segment) and base64 adds a third to their size
(bench/README.md, "The atlas at 1.6M"). A pack store keeps the raw JPEG bytes in a few large
files (`pack-00000.bin`, a new one every `PACK_BYTES`), and the point's payload keeps only a
reference, `image_ref = "pack-00000.bin:<offset>:<length>"`. Reading one image is one positioned
read; nothing is held in RAM (the OS page cache decides).

Appends are serialised; reads may run from any thread. A point upserted twice leaves its earlier
bytes unreferenced (ingestion skips ids already stored, so this happens only on explicit re-upserts).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

PACK_BYTES = 1 << 30  # start a new pack file past 1 GiB (easy to copy, back up, rsync)
IMAGES_DIR = "images"  # beside the store's own files; its presence marks an atlas that uses packs
_REF = re.compile(r"^(pack-\d{5}\.bin):(\d+):(\d+)$")


class ImageRefError(ValueError):
    """A stored image reference that does not point into this image store."""


class PackImageStore:
    """JPEG bytes in append-only pack files under `root`, addressed by `image_ref` strings."""

    def __init__(self, root: Path, *, pack_bytes: int = PACK_BYTES) -> None:
        """Use (and create) the directory `root`."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.pack_bytes = pack_bytes
        self._lock = threading.Lock()
        self._readers: dict[str, int] = {}
        packs = sorted(self.root.glob("pack-*.bin"))
        self._current = packs[-1].name if packs else "pack-00000.bin"
        self._writer: int | None = None

    def write(self, data: bytes) -> str:
        """Append `data`; returns its reference (to keep in the point's payload)."""
        if not data:
            raise ValueError("image bytes: empty")
        with self._lock:
            fd = self._open_writer()
            offset = os.lseek(fd, 0, os.SEEK_END)
            if offset and offset + len(data) > self.pack_bytes:
                self._next_pack()
                fd = self._open_writer()
                offset = 0
            written = os.write(fd, data)
            while written < len(data):  # os.write may write less than asked
                written += os.write(fd, data[written:])
            return f"{self._current}:{offset}:{len(data)}"

    def read(self, ref: str) -> bytes:
        """The bytes behind `ref`; ImageRefError when it is malformed or points outside a pack."""
        match = _REF.match(ref or "")
        if match is None:
            raise ImageRefError(f"image_ref {ref!r} is not 'pack-NNNNN.bin:offset:length'")
        name, offset, length = match.group(1), int(match.group(2)), int(match.group(3))
        fd = self._reader(name)
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise ImageRefError(f"image_ref {ref!r} reaches past the end of {self.root / name}")
        return data

    def flush(self) -> None:
        """Make the appended bytes durable (fsync the pack being written)."""
        with self._lock:
            if self._writer is not None:
                os.fsync(self._writer)

    def close(self) -> None:
        """fsync and close every file; a later call reopens them."""
        with self._lock:
            if self._writer is not None:
                os.fsync(self._writer)
                os.close(self._writer)
                self._writer = None
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()

    def disk_bytes(self) -> int:
        """Bytes held by the pack files."""
        return sum(p.stat().st_size for p in self.root.glob("pack-*.bin"))

    # ---- helpers -------------------------------------------------------------------------

    def _open_writer(self) -> int:
        if self._writer is None:
            self._writer = os.open(self.root / self._current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        return self._writer

    def _next_pack(self) -> None:
        if self._writer is not None:
            os.fsync(self._writer)
            os.close(self._writer)
            self._writer = None
        number = int(self._current[5:10]) + 1
        self._current = f"pack-{number:05d}.bin"

    def _reader(self, name: str) -> int:
        fd = self._readers.get(name)
        if fd is not None:
            return fd
        with self._lock:
            if name not in self._readers:
                path = self.root / name
                if not path.is_file():
                    raise ImageRefError(f"image pack {path} is missing")
                self._readers[name] = os.open(path, os.O_RDONLY)
            return self._readers[name]
