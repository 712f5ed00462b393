"""Discord's limits on messages and application commands, answered as 400 'Invalid Form Body' (code 50035)."""

from __future__ import annotations

import re
from typing import Any

from .records import UploadedFile, iter_components

CONTENT_MAX = 2000
EMBEDS_MAX, EMBED_TOTAL_MAX = 10, 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
FIELD_NAME_MAX, FIELD_VALUE_MAX, FIELDS_MAX = 256, 1024, 25
FOOTER_MAX, AUTHOR_MAX = 2048, 256
FILES_MAX = 10
CUSTOM_ID_MAX, BUTTON_LABEL_MAX, ROW_ITEMS_MAX, ROWS_MAX = 100, 80, 5, 5
THREAD_NAME_MAX = 100
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
COMMAND_DESCRIPTION_MAX, OPTIONS_MAX, CHOICES_MAX = 100, 25, 25

Errors = dict[str, Any]


def _error(errors: Errors, path: list[str | int], code: str, message: str) -> None:
    node = errors
    for key in path:
        node = node.setdefault(str(key), {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _max_length(errors: Errors, path: list[str | int], value: Any, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        _error(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def invalid_form_body(errors: Errors) -> dict[str, Any]:
    """Discord's JSON body for a 400 with field errors."""
    return {"code": 50035, "message": "Invalid Form Body", "errors": errors}


def validate_message(body: dict[str, Any], files: list[UploadedFile], *, editing: bool = False) -> Errors:
    """Field errors for a message create/edit body; empty when Discord would accept it."""
    errors: Errors = {}
    _max_length(errors, ["content"], body.get("content"), CONTENT_MAX)
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        _error(errors, ["embeds"], "BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in EMBED_LIMITS.items():
            _max_length(errors, ["embeds", i, key], embed.get(key), limit)
            total += len(embed.get(key) or "")
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_MAX:
            _error(
                errors,
                ["embeds", i, "fields"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {FIELDS_MAX} or fewer in length.",
            )
        for j, fld in enumerate(fields):
            _max_length(errors, ["embeds", i, "fields", j, "name"], fld.get("name"), FIELD_NAME_MAX)
            _max_length(errors, ["embeds", i, "fields", j, "value"], fld.get("value"), FIELD_VALUE_MAX)
            if not fld.get("name") or not fld.get("value"):
                _error(errors, ["embeds", i, "fields", j], "BASE_TYPE_REQUIRED", "This field is required")
            total += len(fld.get("name") or "") + len(fld.get("value") or "")
        footer = (embed.get("footer") or {}).get("text")
        _max_length(errors, ["embeds", i, "footer", "text"], footer, FOOTER_MAX)
        author = (embed.get("author") or {}).get("name")
        _max_length(errors, ["embeds", i, "author", "name"], author, AUTHOR_MAX)
        total += len(footer or "") + len(author or "")
    if total > EMBED_TOTAL_MAX:
        _error(
            errors,
            ["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
        )
    if len(files) > FILES_MAX:
        _error(errors, ["files"], "BASE_TYPE_MAX_LENGTH", f"Must be {FILES_MAX} or fewer in length.")
    _validate_components(errors, body.get("components") or [])
    has_content = (
        any(body.get(k) for k in ("content", "embeds", "components", "sticker_ids", "poll")) or files
    )
    if not editing and not has_content and not body.get("attachments"):
        return {"_errors": [{"code": "50006", "message": "Cannot send an empty message"}]}
    return errors


def _validate_components(errors: Errors, components: list[dict[str, Any]]) -> None:
    rows = [c for c in components if c.get("type") == 1]
    if len(rows) > ROWS_MAX:
        _error(errors, ["components"], "BASE_TYPE_MAX_LENGTH", f"Must be {ROWS_MAX} or fewer in length.")
    for i, row in enumerate(rows):
        if len(row.get("components") or []) > ROW_ITEMS_MAX:
            _error(
                errors,
                ["components", i, "components"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {ROW_ITEMS_MAX} or fewer in length.",
            )
    seen: set[str] = set()
    for comp in iter_components(components):
        custom_id = comp.get("custom_id")
        if custom_id is not None:
            _max_length(errors, ["components", "custom_id"], custom_id, CUSTOM_ID_MAX)
            if custom_id in seen:
                _error(
                    errors,
                    ["components", "custom_id"],
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    f"Component custom id cannot be duplicated: {custom_id!r}",
                )
            seen.add(custom_id)
        if comp.get("type") == 2:
            _max_length(errors, ["components", "label"], comp.get("label"), BUTTON_LABEL_MAX)
            if comp.get("style") != 5 and comp.get("style") != 6 and not custom_id:
                _error(errors, ["components", "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")


def validate_commands(commands: Any) -> Errors:
    """Field errors for a bulk-overwrite of application commands."""
    errors: Errors = {}
    if not isinstance(commands, list):
        return {"_errors": [{"code": "BASE_TYPE_ARRAY", "message": "Must be an array."}]}
    for i, cmd in enumerate(commands):
        _validate_command(errors, [i], cmd, top=True)
    return errors


def _validate_command(errors: Errors, path: list[str | int], cmd: dict[str, Any], *, top: bool) -> None:
    name = cmd.get("name") or ""
    chat_input = (
        cmd.get("type", 1) == 1 if top else True
    )  # options always need a lowercase name + description
    if not COMMAND_NAME.match(name) or (chat_input and name != name.lower()):
        _error(
            errors, [*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}"
        )
    if chat_input:
        description = cmd.get("description") or ""
        if not 1 <= len(description) <= COMMAND_DESCRIPTION_MAX:
            _error(
                errors,
                [*path, "description"],
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {COMMAND_DESCRIPTION_MAX} in length.",
            )
    options = cmd.get("options") or []
    if len(options) > OPTIONS_MAX:
        _error(
            errors, [*path, "options"], "BASE_TYPE_MAX_LENGTH", f"Must be {OPTIONS_MAX} or fewer in length."
        )
    seen_optional = False
    for j, opt in enumerate(options):
        opath = [*path, "options", j]
        if opt.get("type") in (1, 2):
            _validate_command(errors, opath, opt, top=False)
            continue
        _validate_command(errors, opath, {**opt, "options": []}, top=False)
        if opt.get("required"):
            if seen_optional:
                _error(
                    errors,
                    [*opath, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        if len(opt.get("choices") or []) > CHOICES_MAX:
            _error(
                errors,
                [*opath, "choices"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {CHOICES_MAX} or fewer in length.",
            )
