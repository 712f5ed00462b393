"""Interactions: building INTERACTION_CREATE payloads like Discord, and the bot's side of them —
callbacks (types 4/5/6/7/9), follow-ups and edits through the interaction's webhook token. A modal
(callback 9) is checked like Discord checks it and submitted back as interaction type 5."""

from __future__ import annotations

import time
from typing import Any

from . import payloads as P
from .commands import OPT_ATTACHMENT, CommandRegistry, build_options
from .ids import interaction_token
from .multipart import guess_content_type
from .records import InteractionRecord, MessageRecord, UploadedFile
from .world import DiscordError, World

TYPE_APPLICATION_COMMAND, TYPE_COMPONENT, TYPE_MODAL_SUBMIT = 2, 3, 5
COMPONENT_ACTION_ROW, COMPONENT_TEXT_INPUT = 1, 4
MODAL_TITLE_MAX, TEXT_INPUT_LABEL_MAX, TEXT_INPUT_MAX, CUSTOM_ID_MAX = 45, 45, 4000, 100
CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE, CB_MODAL = 4, 5, 6, 7, 9


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


class Interactions:
    """Every interaction sent to the bot, by id and by token."""

    def __init__(
        self,
        world: World,
        commands: CommandRegistry,
        *,
        ack_deadline: float,
        token_lifetime: float,
        advertised_upload_limit: int,
    ) -> None:
        self.world = world
        self.commands = commands
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.advertised_upload_limit = advertised_upload_limit
        self.by_id: dict[int, InteractionRecord] = {}
        self.by_token: dict[str, InteractionRecord] = {}

    # --- building what Discord sends -------------------------------------------------------
    def _base(self, kind: int, user_name: str, channel_id: int) -> tuple[InteractionRecord, dict[str, Any]]:
        world = self.world
        user_obj = world.user(user_name)
        record = InteractionRecord(
            id=world.snowflakes.next(),
            token=interaction_token(),
            type=kind,
            user_id=int(user_obj["id"]),
            user_name=user_name,
            channel_id=channel_id,
        )
        payload = {
            "id": str(record.id),
            "application_id": str(world.app_id),
            "type": kind,
            "token": record.token,
            "version": 1,
            "guild_id": str(world.guild_id),
            "guild": {"id": str(world.guild_id), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": world.channel(channel_id),
            "member": world.member_of(user_obj),
            "app_permissions": str(world.bot_permissions),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(world.guild_id)},
            "context": 0,
            "attachment_size_limit": self.advertised_upload_limit,
        }
        if world.guild_of(channel_id) is None:  # a DM with the bot: a user, no guild nor member
            for key in ("guild_id", "guild", "member", "guild_locale"):
                del payload[key]
            payload["user"] = user_obj
            payload["context"] = 1  # BOT_DM
            payload["authorizing_integration_owners"] = {"0": "0"}  # guild install, used in the bot's DM
        return record, payload

    def slash(self, path: str, options: dict[str, Any], user_name: str, channel_id: int) -> InteractionRecord:
        """An application-command interaction for '/<path>' with `options`, checked against the synced command."""
        guild_id = self.world.guild_of(channel_id)
        cmd, chain = self.commands.find(path, guild_id)  # in a DM, only global commands exist
        # Discord offers a command only in the contexts it declares (0 guild, 1 bot DM); legacy: dm_permission
        context = 0 if guild_id is not None else 1
        contexts = cmd.get("contexts")
        if (contexts is not None and context not in contexts) or (
            contexts is None and context == 1 and not cmd.get("dm_permission", True)
        ):
            where = "a server" if context == 0 else "a DM with the bot"
            raise ValueError(f"/{cmd['name']} is not offered in {where} (contexts {contexts})")
        declared = chain[-1].get("options", []) if chain else cmd.get("options", [])
        leaf_options, uploads = build_options(declared, options, path)
        resolved: dict[str, Any] = {}
        if uploads:
            attachments = {}
            for opt in leaf_options:
                if opt["type"] == OPT_ATTACHMENT:
                    upload = uploads[opt["name"]]
                    f = UploadedFile(
                        upload.filename, upload.data, guess_content_type(upload.filename, upload.data)
                    )
                    obj = self.world.store_files(channel_id, [f])[0]
                    obj["ephemeral"] = True
                    attachments[obj["id"]] = obj
                    opt["value"] = obj["id"]
            resolved["attachments"] = attachments
        nested: list[dict[str, Any]] = leaf_options
        for sub in reversed(chain):
            nested = [{"type": sub["type"], "name": sub["name"], "options": nested}]
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": nested}
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        record, payload = self._base(TYPE_APPLICATION_COMMAND, user_name, channel_id)
        payload["data"] = data
        record.command, record.options, record.payload = path.strip().lstrip("/"), dict(options), payload
        return self._register(record)

    def component(self, message: MessageRecord, custom_id: str, user_name: str) -> InteractionRecord:
        """A button press on `message` (the button must exist and be enabled, as in Discord's client)."""
        button = next((b for b in message.buttons if b.get("custom_id") == custom_id), None)
        if button is None:
            raise ValueError(f"message {message.id} has no button {custom_id!r}; it has {message.custom_ids}")
        if button.get("disabled"):
            raise ValueError(f"button {custom_id!r} on message {message.id} is disabled")
        record, payload = self._base(TYPE_COMPONENT, user_name, message.channel_id)
        payload["channel"] = self.world.channel(message.channel_id)
        payload["message"] = message.payload
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        record.custom_id, record.source_message_id, record.payload = custom_id, message.id, payload
        return self._register(record)

    def modal_submit(self, opened_by: InteractionRecord, values: list[str], user_name: str) -> InteractionRecord:
        """The user fills in the modal `opened_by` answered with (one value per text input, in order) and
        submits it. Like Discord's client, refuses values outside an input's min/max length."""
        modal = opened_by.modal
        if modal is None:
            raise ValueError(f"interaction {opened_by.id} did not answer with a modal")
        inputs = [c for row in modal["components"] for c in row["components"]]
        if len(values) != len(inputs):
            raise ValueError(f"the modal has {len(inputs)} text input(s); got {len(values)} value(s)")
        for field_, value in zip(inputs, values, strict=True):
            low, high = field_.get("min_length", 0), field_.get("max_length", TEXT_INPUT_MAX)
            if not low <= len(value) <= high or (field_.get("required", True) and not value):
                raise ValueError(f"{field_['label']!r} takes {low}–{high} characters; got {len(value)}")
        record, payload = self._base(TYPE_MODAL_SUBMIT, user_name, opened_by.channel_id)
        payload["channel"] = self.world.channel(opened_by.channel_id)
        if opened_by.payload.get("message"):  # a modal opened from a button carries that message
            payload["message"] = opened_by.payload["message"]
        payload["data"] = {
            "custom_id": modal["custom_id"],
            "components": [
                {"type": COMPONENT_ACTION_ROW, "components": [
                    {"type": COMPONENT_TEXT_INPUT, "custom_id": f["custom_id"], "value": v}
                ]}
                for f, v in zip(inputs, values, strict=True)
            ],
        }
        record.custom_id, record.payload = modal["custom_id"], payload
        return self._register(record)

    def _register(self, record: InteractionRecord) -> InteractionRecord:
        self.by_id[record.id] = record
        self.by_token[record.token] = record
        return record

    # --- what the bot sends back ---------------------------------------------------------
    def callback(
        self, interaction_id: int, token: str, body: dict[str, Any], files: list[UploadedFile]
    ) -> tuple[InteractionRecord, MessageRecord | None]:
        """POST /interactions/{id}/{token}/callback: the initial response (only one, within the deadline)."""
        record = self.by_id.get(interaction_id)
        if record is None or record.token != token:
            raise unknown_interaction()
        record.callbacks.append({**body, "_files": [f.filename for f in files], "_at": time.monotonic()})
        if record.acked:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - record.dispatched_at > self.ack_deadline:
            raise unknown_interaction()  # Discord forgets interactions nobody answered within 3 s
        kind = body.get("type")
        data = body.get("data") or {}
        message: MessageRecord | None = None
        if kind in (CB_DEFERRED_UPDATE, CB_UPDATE) and record.type != TYPE_COMPONENT:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                "message": "Response type is only valid for component interactions",
                            }
                        ]
                    }
                },
            )
        if kind == CB_MESSAGE:
            message = self._original(record, data, files, loading=False)
        elif kind == CB_DEFERRED_MESSAGE:
            message = self._original(
                record, {"flags": int(data.get("flags") or 0) & P.FLAG_EPHEMERAL}, [], loading=True
            )
        elif kind == CB_UPDATE:
            message = self.world.edit_message(
                self.world.message(None, record.source_message_id or 0), data, files
            )
        elif kind == CB_MODAL:
            if record.type == TYPE_MODAL_SUBMIT:
                raise _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "A modal cannot answer a modal submit")
            record.modal = _checked_modal(data)
        elif kind != CB_DEFERRED_UPDATE:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_CHOICES",
                                "message": f"Value {kind!r} is not a valid interaction callback type.",
                            }
                        ]
                    }
                },
            )
        record.acked_at, record.ack_type = time.monotonic(), kind
        return record, message

    def _original(
        self, record: InteractionRecord, data: dict[str, Any], files: list[UploadedFile], *, loading: bool
    ) -> MessageRecord:
        body = dict(data)
        if loading:
            body["flags"] = int(body.get("flags") or 0) | P.FLAG_LOADING
        meta = {
            "id": str(record.id),
            "type": record.type,
            "user": self.world.user(record.user_name),
            "name": (record.command or "").split(" ")[0],
            "guild_id": str(self.world.guild_of(record.channel_id) or 0),
        }
        kind = P.MESSAGE_CHAT_INPUT_COMMAND if record.type == TYPE_APPLICATION_COMMAND else 19
        message = self.world.create_message(
            record.channel_id, body, files, source="interaction", interaction=meta, message_type=kind
        )
        record.original_message_id = message.id
        return message

    def callback_response(self, record: InteractionRecord, message: MessageRecord | None) -> dict[str, Any]:
        """The `with_response=true` answer: the interaction callback object and its resource."""
        inner: dict[str, Any] = {"id": str(record.id), "type": record.type}
        resource: dict[str, Any] = {"type": record.ack_type}
        if message is not None:
            inner["response_message_id"] = str(message.id)
            inner["response_message_loading"] = message.loading
            inner["response_message_ephemeral"] = message.ephemeral
            resource["message"] = message.payload
        return {"interaction": inner, "resource": resource}

    def by_webhook(self, app_id: int, token: str) -> InteractionRecord:
        """The interaction behind a webhook token (401 once the 15-minute token has expired)."""
        record = self.by_token.get(token)
        if app_id != self.world.app_id or record is None:
            raise unknown_webhook()
        if time.monotonic() - record.dispatched_at > self.token_lifetime:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not record.acked:
            raise unknown_webhook()
        return record

    def followup(
        self, record: InteractionRecord, body: dict[str, Any], files: list[UploadedFile]
    ) -> MessageRecord:
        """POST /webhooks/{app}/{token}: a follow-up; the first one after a deferral fills the 'thinking' message."""
        original = self.world.messages.get(record.original_message_id or 0)
        if original is not None and original.loading:
            body = {k: v for k, v in body.items() if k != "flags"}
            return self.world.edit_message(original, body, files)
        meta = {
            "id": str(record.id),
            "type": record.type,
            "user": self.world.user(record.user_name),
            "name": (record.command or "").split(" ")[0],
            "guild_id": str(self.world.guild_of(record.channel_id) or 0),
        }
        message = self.world.create_message(
            record.channel_id, body, files, source="webhook", interaction=meta
        )
        record.followup_ids.append(message.id)
        return message

    def webhook_message(self, record: InteractionRecord, message_id: str) -> MessageRecord:
        """The message behind '@original' or an id, as long as it belongs to this interaction."""
        if message_id == "@original":
            if record.original_message_id is None:
                raise unknown_message_for_webhook()
            return self.world.message(None, record.original_message_id)
        mid = int(message_id) if message_id.isdigit() else -1
        if mid not in record.message_ids:
            raise unknown_message_for_webhook()
        return self.world.message(None, mid)


def unknown_message_for_webhook() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def _form_error(field_: str, code: str, message: str) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", {field_: {"_errors": [{"code": code, "message": message}]}})


def _checked_modal(data: dict[str, Any]) -> dict[str, Any]:
    """A modal as Discord accepts it: custom id, title ≤ 45, 1–5 action rows of one text input each."""
    custom_id, title, rows = data.get("custom_id"), data.get("title"), data.get("components") or []
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= CUSTOM_ID_MAX:
        raise _form_error("data.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
    if not isinstance(title, str) or not 1 <= len(title) <= MODAL_TITLE_MAX:
        raise _form_error("data.title", "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MODAL_TITLE_MAX} in length.")
    if not 1 <= len(rows) <= 5:
        raise _form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    for row in rows:
        inner = row.get("components") or []
        if row.get("type") != COMPONENT_ACTION_ROW or len(inner) != 1 or inner[0].get("type") != COMPONENT_TEXT_INPUT:
            raise _form_error("data.components", "UNION_TYPE_CHOICES", "Each row holds one text input")
        field_ = inner[0]
        low, high = field_.get("min_length", 0), field_.get("max_length", TEXT_INPUT_MAX)
        if not field_.get("custom_id") or not 1 <= len(field_.get("label") or "") <= TEXT_INPUT_LABEL_MAX:
            raise _form_error("data.components", "BASE_TYPE_REQUIRED", "A text input needs a custom_id and a label")
        if not 0 <= low <= high <= TEXT_INPUT_MAX or field_.get("style") not in (1, 2):
            raise _form_error("data.components", "NUMBER_TYPE_MAX", f"Lengths within 0–{TEXT_INPUT_MAX}, style 1 or 2")
    return data
