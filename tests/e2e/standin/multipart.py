"""Read a REST request body the way Discord does: JSON, or multipart with payload_json + files[n]."""

from __future__ import annotations

import json
import mimetypes
import re
from typing import Any

from aiohttp import web

from .records import UploadedFile

FILE_FIELD = re.compile(r"^files\[(\d+)\]$")


class BadBody(ValueError):
    """The body could not be read; the message says why (sent back as a 400)."""


def guess_content_type(filename: str, data: bytes) -> str:
    """Content type from the bytes' magic number, else from the file name (Discord sniffs the same way)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


async def read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """The JSON payload and the uploaded files (ordered by their n in files[n])."""
    if not request.body_exists:
        return None, []
    if request.content_type != "multipart/form-data":
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except json.JSONDecodeError as exc:
            raise BadBody(f"body is not JSON: {exc}") from exc

    payload: Any = None
    numbered: dict[int, UploadedFile] = {}
    reader = await request.multipart()
    async for part in reader:
        name = part.name or ""
        data = await part.read(decode=False)
        if name == "payload_json":
            try:
                payload = json.loads(data)
            except json.JSONDecodeError as exc:
                raise BadBody(f"payload_json is not JSON: {exc}") from exc
            continue
        match = FILE_FIELD.match(name)
        if match is None:
            raise BadBody(f"unexpected multipart field {name!r}; Discord takes payload_json and files[n]")
        filename = part.filename or f"file{match.group(1)}"
        numbered[int(match.group(1))] = UploadedFile(
            filename=filename, data=bytes(data), content_type=guess_content_type(filename, bytes(data))
        )
    files = [numbered[i] for i in sorted(numbered)]
    described = {
        int(a["id"]): a for a in (payload or {}).get("attachments", []) if str(a.get("id", "")).isdigit()
    }
    for index, f in zip(sorted(numbered), files, strict=True):
        if index in described:
            f.description = described[index].get("description")
    return payload, files
