"""Synced application commands, and slash-command option payloads built from them as Discord's client would.

Discord only lets a user send options the command declares, of the declared type, within the declared
choices and ranges; so a test asking for anything else is a test bug, and raises ValueError here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP = 1, 2
OPT_STRING, OPT_INTEGER, OPT_BOOLEAN, OPT_NUMBER, OPT_ATTACHMENT = 3, 4, 5, 10, 11


@dataclass
class AttachmentUpload:
    """A file a simulated user attaches to a slash command's attachment option."""

    filename: str
    data: bytes

    @classmethod
    def coerce(cls, value: Any, option: str) -> AttachmentUpload:
        """Accept AttachmentUpload, bytes (named image.png), (filename, bytes) or a Path."""
        if isinstance(value, AttachmentUpload):
            return value
        if isinstance(value, bytes | bytearray):
            return cls("image.png", bytes(value))
        if isinstance(value, tuple) and len(value) == 2:
            return cls(str(value[0]), bytes(value[1]))
        if isinstance(value, Path):
            return cls(value.name, value.read_bytes())
        raise ValueError(
            f"option {option!r} is an attachment: pass bytes, (filename, bytes) or a Path, not {type(value).__name__}"
        )


class CommandRegistry:
    """Commands as synced by the bot: global, and per guild. Ids stay stable across re-syncs by name."""

    def __init__(self, next_id: Any) -> None:
        self._next_id = next_id
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self._ids: dict[tuple[int | None, str, int], int] = {}
        self.sync_count = 0

    def overwrite(
        self, app_id: int, guild_id: int | None, commands: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Bulk-overwrite one scope (global when guild_id is None); returns the stored commands."""
        stored = []
        for cmd in commands:
            key = (guild_id, cmd["name"], cmd.get("type", 1))
            cid = self._ids.setdefault(key, self._next_id())
            full = {
                "id": str(cid),
                "application_id": str(app_id),
                "version": str(self._next_id()),
                "type": cmd.get("type", 1),
                "name": cmd["name"],
                "description": cmd.get("description", ""),
                "options": cmd.get("options", []),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types", [0]),
            }
            if guild_id is not None:
                full["guild_id"] = str(guild_id)
            stored.append(full)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.sync_count += 1
        return stored

    def scope(self, guild_id: int | None) -> list[dict[str, Any]]:
        """The commands of one scope."""
        return self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])

    def names(self, guild_id: int | None) -> list[str]:
        """Every invocable path ('mirage search') visible in a guild, for error messages."""
        paths = []
        for cmd in [*self.guild_commands.get(guild_id or 0, []), *self.global_commands]:
            subs = [o for o in cmd["options"] if o.get("type") in (OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP)]
            if not subs:
                paths.append(cmd["name"])
            for sub in subs:
                if sub["type"] == OPT_SUB_COMMAND:
                    paths.append(f"{cmd['name']} {sub['name']}")
                else:
                    paths += [
                        f"{cmd['name']} {sub['name']} {leaf['name']}" for leaf in sub.get("options", [])
                    ]
        return paths

    def find(self, path: str, guild_id: int | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The top command and the chain of sub-command options for 'name [group] [sub]'; guild scope first."""
        words = path.strip().lstrip("/").split()
        if not words:
            raise ValueError("command path is empty; expected e.g. 'mirage search'")
        for cmd in [*self.guild_commands.get(guild_id or 0, []), *self.global_commands]:
            if cmd["name"] != words[0] or cmd.get("type", 1) != 1:
                continue
            chain, options = [], cmd["options"]
            for word in words[1:]:
                match = next((o for o in options if o["name"] == word and o.get("type") in (1, 2)), None)
                if match is None:
                    break
                chain.append(match)
                options = match.get("options", [])
            else:
                if options and options[0].get("type") in (1, 2):
                    raise ValueError(f"{path!r} is a group; invoke one of: {self.names(guild_id)}")
                return cmd, chain
        raise ValueError(f"no synced command {path!r}; the bot synced: {self.names(guild_id) or 'nothing'}")


def build_options(
    declared: list[dict[str, Any]], values: dict[str, Any], path: str
) -> tuple[list[dict[str, Any]], dict[str, AttachmentUpload]]:
    """Interaction option payloads for `values`, checked against the declared options.

    Returns the options and the attachment uploads keyed by option name (their ids are filled in later).
    """
    by_name = {o["name"]: o for o in declared}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise ValueError(f"/{path} has no option(s) {unknown}; declared: {sorted(by_name)}")
    missing = [o["name"] for o in declared if o.get("required") and o["name"] not in values]
    if missing:
        raise ValueError(f"/{path} requires option(s) {missing}")
    built, uploads = [], {}
    for name, value in values.items():
        opt = by_name[name]
        kind = opt["type"]
        if kind == OPT_ATTACHMENT:
            uploads[name] = AttachmentUpload.coerce(value, name)
            built.append({"name": name, "type": kind, "value": None})
            continue
        _check_value(opt, value, path)
        built.append({"name": name, "type": kind, "value": value})
    return built, uploads


def _check_value(opt: dict[str, Any], value: Any, path: str) -> None:
    name, kind = opt["name"], opt["type"]
    expected = {OPT_STRING: str, OPT_INTEGER: int, OPT_BOOLEAN: bool, OPT_NUMBER: (int, float)}.get(kind)
    if expected is None:
        raise ValueError(f"/{path} option {name!r} has type {kind}, which the stand-in does not simulate")
    if not isinstance(value, expected) or (kind in (OPT_INTEGER, OPT_NUMBER) and isinstance(value, bool)):
        raise ValueError(f"/{path} option {name!r} takes {expected}, got {value!r}")
    choices = [c["value"] for c in opt.get("choices") or []]
    if choices and value not in choices:
        raise ValueError(f"/{path} option {name!r} must be one of {choices}, got {value!r}")
    if kind in (OPT_INTEGER, OPT_NUMBER):
        low, high = opt.get("min_value"), opt.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"/{path} option {name!r} must be within [{low}, {high}], got {value!r}")
    if kind == OPT_STRING:
        low, high = opt.get("min_length", 0), opt.get("max_length", 6000)
        if not low <= len(value) <= high:
            raise ValueError(
                f"/{path} option {name!r} length must be within [{low}, {high}], got {len(value)}"
            )
