"""A fake Telegram Bot API served over real HTTP, and builders of the updates Telegram sends."""

from __future__ import annotations

import copy
import email
import email.message
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any, TypedDict
from urllib.parse import parse_qsl, unquote, urlsplit

from typing_extensions import Unpack

from tests.fakes import http
from tests.fakes.http import (
    Answer,
    Call,
    FakeHttpServer,
    JsonDict,
    Reply,
    Serials,
    SlidingWindows,
    media_type,
    parse_json_object,
)

ChatId = int | str
ApiMethod = Callable[[JsonDict], "Answer"]

DEFAULT_TOKEN = "123456:TEST-token"
FALLBACK_BOT_ID = 123456
BOT_FIRST_NAME = "Helpdesk"
BOT_USERNAME = "helpdesk_test_bot"
GROUP_CHAT_ID = -4_000_000_001
CHANNEL_CHAT_ID = -1_001_000_000_001
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_POLL_WAIT_SECONDS = 1.0
MAX_UPDATES_PER_POLL = 100
SERVE_POLL_SECONDS = 0.01
PHOTO_SIDES = (90, 320, 800)
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendChatAction"})
WEBHOOK_FIELDS = ("url", "secret_token", "allowed_updates", "drop_pending_updates")
WEBHOOK_EXTRAS = ("max_connections", "ip_address")
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
STALE_QUERY = "query is too old and response timeout expired or query ID is invalid"
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "file_id",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "action",
        "photo",
        "document",
        "business_connection_id",
        "message_effect_id",
    }
)


@dataclass(frozen=True)
class Upload:
    """A file posted as a multipart/form-data part."""

    filename: str
    mime_type: str
    content: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file the bot may fetch with getFile and download."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes

    def as_file(self) -> JsonDict:
        """The File object getFile answers with."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


def _ok(result: Any) -> Answer:
    """A successful Bot API answer."""
    return Answer(200, {"ok": True, "result": result})


def _error(status: int, description: str, **parameters: Any) -> Answer:
    """A failed Bot API answer, as Telegram words it."""
    body: JsonDict = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Answer(status, body)


def _bad_request(detail: str) -> Answer:
    """A 400 answer with Telegram's `Bad Request: ...` wording."""
    return _error(400, f"Bad Request: {detail}")


def _too_many_requests(retry_after: int) -> Answer:
    """A 429 flood-control answer."""
    description = f"Too Many Requests: retry after {retry_after}"
    return _error(429, description, retry_after=retry_after)


UNAUTHORIZED = _error(401, "Unauthorized")
METHOD_NOT_FOUND = _error(404, "Not Found: method not found")
FILE_NOT_FOUND = _error(404, "Not Found")
BLOCKED = _error(403, "Forbidden: bot was blocked by the user")
OUTAGE = _error(500, "Internal Server Error")
WEBHOOK_CONFLICT = _error(
    409,
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first",
)


def parse_params(content_type: str, body: bytes, query: str = "") -> JsonDict:
    """Decode Bot API parameters from a query string and a form, multipart or JSON body."""
    params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    kind, boundary = media_type(content_type)
    if kind == "multipart/form-data" and boundary:
        params.update(_parse_multipart(body, boundary))
    elif kind == "application/json" and body:
        params.update(parse_json_object(body))
    elif body:
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    decoded = {key: _decode_value(key, value) for key, value in params.items()}
    return _resolve_attachments(decoded)


def _parse_multipart(body: bytes, boundary: str) -> JsonDict:
    """Decode multipart/form-data: plain parts as strings, file parts as uploads."""
    fields: JsonDict = {}
    for headers, content in _multipart_parts(body, boundary.encode()):
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = headers.get_filename()
        if filename is None:
            fields[name] = content.decode()
        else:
            fields[name] = Upload(filename, headers.get_content_type(), content)
    return fields


def _multipart_parts(body: bytes, boundary: bytes) -> Iterator[tuple[Message, bytes]]:
    """The headers and exact content of every part of a multipart body."""
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            return
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        yield email.message_from_bytes(head + b"\r\n\r\n"), content.removesuffix(b"\r\n")


def _decode_value(key: str, value: Any) -> Any:
    """Undo the JSON encoding of a non-string parameter (numbers, booleans, objects)."""
    if not isinstance(value, str) or key in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _resolve_attachments(params: JsonDict) -> JsonDict:
    """Replace `attach://name` references with the uploaded part `name`."""
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("attach://"):
            attached = params.get(value.removeprefix("attach://"))
            params[key] = attached if isinstance(attached, Upload) else value
    return params


def chat_key(chat_id: Any) -> ChatId | None:
    """A chat id as the fake keys chats: numeric ids as int, `@username` as is."""
    if isinstance(chat_id, bool) or chat_id is None or chat_id == "":
        return None
    if isinstance(chat_id, int):
        return chat_id
    text = str(chat_id)
    return int(text) if text.lstrip("-").isdigit() else text


def _bot_id(token: str) -> int:
    """The bot's user id, which Telegram puts before the colon of its token."""
    prefix = token.partition(":")[0]
    return int(prefix) if prefix.isdigit() else FALLBACK_BOT_ID


def bot_user(token: str = DEFAULT_TOKEN) -> JsonDict:
    """The bot as a User object, as it appears in `from` of its messages."""
    return {
        "id": _bot_id(token),
        "is_bot": True,
        "first_name": BOT_FIRST_NAME,
        "username": BOT_USERNAME,
    }


def _chat_for(chat_id: ChatId) -> JsonDict:
    """The Chat a message sent to `chat_id` belongs to."""
    if isinstance(chat_id, str):
        return {"id": chat_id, "type": "channel", "username": chat_id.lstrip("@")}
    if chat_id > 0:
        return {"id": chat_id, "type": "private"}
    chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": chat_type, "title": "Group"}


def _inline_markup(params: JsonDict) -> JsonDict | None:
    """The inline keyboard of a request; Telegram echoes no other kind of markup."""
    markup = params.get("reply_markup")
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _reply_target(params: JsonDict) -> int | None:
    """The message id a send request replies to, if any."""
    reply_parameters = params.get("reply_parameters")
    if isinstance(reply_parameters, dict):
        return reply_parameters.get("message_id")
    target = params.get("reply_to_message_id")
    return target if isinstance(target, int) else None


def photo_sizes(file_id: str, file_unique_id: str, file_size: int) -> list[JsonDict]:
    """PhotoSize objects of increasing size; the largest is the file itself."""
    sizes = []
    for side in PHOTO_SIDES:
        largest = side == PHOTO_SIDES[-1]
        suffix = "" if largest else f"-{side}"
        sizes.append(
            {
                "file_id": f"{file_id}{suffix}",
                "file_unique_id": f"{file_unique_id}{suffix}",
                "file_size": max(1, file_size * side // PHOTO_SIDES[-1]),
                "width": side,
                "height": side * 3 // 4,
            }
        )
    return sizes


def _check_text(text: Any, limit: int = MAX_TEXT_LENGTH) -> Answer | None:
    """The 400 Telegram gives for an empty or too long message text."""
    if not isinstance(text, str) or not text.strip():
        return _bad_request("message text is empty")
    if len(text) > limit:
        return _bad_request("message is too long")
    return None


def _check_caption(params: JsonDict) -> Answer | None:
    """The 400 Telegram gives for a too long caption."""
    caption = params.get("caption")
    if isinstance(caption, str) and len(caption) > MAX_CAPTION_LENGTH:
        return _bad_request("message caption is too long")
    return None


def _check_commands(commands: Any) -> Answer | None:
    """The 400 Telegram gives for a malformed command list."""
    if not isinstance(commands, list):
        return _bad_request("commands must be a list")
    for command in commands:
        if not isinstance(command, dict):
            return _bad_request("BOT_COMMAND_INVALID")
        if not BOT_COMMAND.fullmatch(str(command.get("command", ""))):
            return _bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            return _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    return None


def _number(value: Any, default: float) -> float:
    """A numeric parameter, or `default` when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return value


def _commands_key(params: JsonDict) -> tuple[str, str]:
    """Which command list a set/get/deleteMyCommands call is about."""
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _update_kind(update: JsonDict) -> str:
    """The kind of an update: message, callback_query, ..."""
    return next((key for key in update if key != "update_id"), "")


class TelegramBotApi:
    """The state of one fake bot and its Bot API methods, without any HTTP."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self._lock = threading.RLock()
        self._updates_arrived = threading.Condition(self._lock)
        self._serials = Serials()
        self._stopping = False
        self.max_poll_wait = MAX_POLL_WAIT_SECONDS
        self._clear_state()

    def _clear_state(self) -> None:
        """Forget every message, file, update, webhook and command list."""
        self.sent: dict[ChatId, list[JsonDict]] = {}
        self.files: dict[str, StoredFile] = {}
        self.webhook: JsonDict = {}
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self._updates: list[JsonDict] = []
        self._message_ids: dict[ChatId, int] = {}

    @property
    def bot(self) -> JsonDict:
        """The bot as a User object."""
        return bot_user(self.token)

    def api(self, method: str, params: JsonDict) -> Answer:
        """Answer a Bot API method the way Telegram would."""
        handler = self._api_methods().get(method)
        if handler is None:
            return METHOD_NOT_FOUND
        with self._lock:
            return handler(params)

    def canonical_method(self, name: str) -> str | None:
        """The method's proper name (Telegram ignores case), or None if unknown."""
        return {method.lower(): method for method in self._api_methods()}.get(name.lower())

    def _api_methods(self) -> dict[str, ApiMethod]:
        """The Bot API methods this fake implements."""
        return {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "answerCallbackQuery": self._answer_callback_query,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageText": self._edit_message_text,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "close": self._always_true,
            "logOut": self._always_true,
        }

    def sent_to(self, chat_id: ChatId) -> list[JsonDict]:
        """Messages the bot sent to a chat, oldest first, as they are now."""
        with self._lock:
            return copy.deepcopy(self.sent.get(chat_key(chat_id) or chat_id, []))

    def add_file(
        self,
        file_id: str,
        content: bytes,
        *,
        file_path: str | None = None,
        file_unique_id: str | None = None,
    ) -> JsonDict:
        """Make a file available to getFile and for download; returns its File object."""
        with self._lock:
            path = file_path or f"documents/file_{self._serials.next('file')}"
            stored = StoredFile(file_id, file_unique_id or f"u-{file_id}", path, content)
            self.files[file_id] = stored
            return stored.as_file()

    def push_update(self, update: JsonDict) -> None:
        """Queue an update for getUpdates, waking any long poll."""
        with self._lock:
            queued = copy.deepcopy(update)
            queued.setdefault("update_id", next_update_id())
            self._updates.append(queued)
            self._updates_arrived.notify_all()

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates queued and not yet confirmed."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def _get_me(self, params: JsonDict) -> Answer:
        """getMe: the bot's own User object."""
        return _ok(
            self.bot
            | {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )

    def _new_message(self, chat_id: ChatId, params: JsonDict, **content: Any) -> JsonDict:
        """A message from the bot, with the next message id of its chat."""
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        chat = _chat_for(chat_id)
        message = {
            "message_id": self._message_ids[chat_id],
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot,
            **content,
        }
        target = _reply_target(params)
        if target is not None:
            message["reply_to_message"] = self._replied_message(chat, target)
        markup = _inline_markup(params)
        if markup is not None:
            message["reply_markup"] = markup
        return message

    def _replied_message(self, chat: JsonDict, message_id: int) -> JsonDict:
        """The message a reply points at: the stored one, or a bare stand-in."""
        stored = self._find_message(chat["id"], message_id)
        return stored or {"message_id": message_id, "date": int(time.time()), "chat": chat}

    def _store(self, chat_id: ChatId, message: JsonDict) -> Answer:
        """Keep a sent message and answer with it."""
        self.sent.setdefault(chat_id, []).append(message)
        return _ok(copy.deepcopy(message))

    def _find_message(self, chat_id: Any, message_id: Any) -> JsonDict | None:
        """The stored message `message_id` of a chat, if any."""
        stored = self.sent.get(chat_key(chat_id) or "", [])
        return next((m for m in stored if m["message_id"] == message_id), None)

    def _send_message(self, params: JsonDict) -> Answer:
        """sendMessage: store and return a text message."""
        chat_id = chat_key(params.get("chat_id"))
        if chat_id is None:
            return _bad_request("chat_id is empty")
        text = params.get("text")
        problem = _check_text(text)
        if problem is not None:
            return problem
        return self._store(chat_id, self._new_message(chat_id, params, text=text))

    def _send_photo(self, params: JsonDict) -> Answer:
        """sendPhoto: store and return a photo message."""
        chat_id = chat_key(params.get("chat_id"))
        if chat_id is None:
            return _bad_request("chat_id is empty")
        photo = params.get("photo")
        if not photo:
            return _bad_request("there is no photo in the request")
        problem = _check_caption(params)
        if problem is not None:
            return problem
        content = self._media_content(params, photo=self._photo_sizes_for(photo))
        return self._store(chat_id, self._new_message(chat_id, params, **content))

    def _send_document(self, params: JsonDict) -> Answer:
        """sendDocument: store and return a document message."""
        chat_id = chat_key(params.get("chat_id"))
        if chat_id is None:
            return _bad_request("chat_id is empty")
        document = params.get("document")
        if not document:
            return _bad_request("there is no document in the request")
        problem = _check_caption(params)
        if problem is not None:
            return problem
        content = self._media_content(params, document=self._document_for(document))
        return self._store(chat_id, self._new_message(chat_id, params, **content))

    @staticmethod
    def _media_content(params: JsonDict, **media: Any) -> JsonDict:
        """The content fields of a media message, with its caption if any."""
        caption = params.get("caption")
        return media | {"caption": caption} if caption else media

    def _photo_sizes_for(self, photo: Upload | str) -> list[JsonDict]:
        """The PhotoSize list for an uploaded photo or a photo sent by file id or URL."""
        if isinstance(photo, Upload):
            stored = self._keep_upload(photo, "photos", ".jpg")
            return photo_sizes(stored.file_id, stored.file_unique_id, len(stored.content))
        known = self.files.get(str(photo))
        size = len(known.content) if known else 1
        return photo_sizes(str(photo), known.file_unique_id if known else f"u-{photo}", size)

    def _document_for(self, document: Upload | str) -> JsonDict:
        """The Document object for an uploaded file or one sent by file id or URL."""
        if isinstance(document, Upload):
            stored = self._keep_upload(document, "documents", "")
            return {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": document.filename,
                "mime_type": document.mime_type,
                "file_size": len(document.content),
            }
        known = self.files.get(str(document))
        unique_id = known.file_unique_id if known else f"u-{document}"
        described = {"file_id": str(document), "file_unique_id": unique_id}
        return described | ({"file_size": len(known.content)} if known else {})

    def _keep_upload(self, upload: Upload, folder: str, suffix: str) -> StoredFile:
        """Store an uploaded file under a fresh file id so getFile can find it."""
        serial = self._serials.next("file")
        file_id = f"fake-{folder}-{serial}"
        path = f"{folder}/file_{serial}{suffix or _suffix_of(upload.filename)}"
        stored = StoredFile(file_id, f"u-{file_id}", path, upload.content)
        self.files[file_id] = stored
        return stored

    def _send_chat_action(self, params: JsonDict) -> Answer:
        """sendChatAction: accept a typing (or other) indicator."""
        if chat_key(params.get("chat_id")) is None:
            return _bad_request("chat_id is empty")
        if not params.get("action"):
            return _bad_request("action is empty")
        return _ok(True)

    def _get_file(self, params: JsonDict) -> Answer:
        """getFile: describe a registered file so the bot can download it."""
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            return _bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            return _bad_request("file is too big")
        return _ok(stored.as_file())

    def file_at(self, file_path: str) -> StoredFile | None:
        """The registered file served at `file_path`, if any."""
        with self._lock:
            return next((f for f in self.files.values() if f.file_path == file_path), None)

    def _answer_callback_query(self, params: JsonDict) -> Answer:
        """answerCallbackQuery: acknowledge a button press."""
        if not params.get("callback_query_id"):
            return _bad_request(STALE_QUERY)
        return _ok(True)

    def _edit_message_reply_markup(self, params: JsonDict) -> Answer:
        """editMessageReplyMarkup: replace or remove a sent message's inline keyboard."""
        if params.get("inline_message_id"):
            return _ok(True)
        message = self._find_message(params.get("chat_id"), params.get("message_id"))
        if message is None:
            return _bad_request("message to edit not found")
        markup = _inline_markup(params)
        if markup == message.get("reply_markup"):
            return _bad_request(NOT_MODIFIED)
        self._set_markup(message, markup)
        return _ok(copy.deepcopy(message))

    def _edit_message_text(self, params: JsonDict) -> Answer:
        """editMessageText: replace a sent message's text; a keyboard not passed again goes."""
        text = params.get("text")
        problem = _check_text(text)
        if problem is not None:
            return problem
        if params.get("inline_message_id"):
            return _ok(True)
        message = self._find_message(params.get("chat_id"), params.get("message_id"))
        if message is None:
            return _bad_request("message to edit not found")
        markup = _inline_markup(params)
        if text == message.get("text") and markup == message.get("reply_markup"):
            return _bad_request(NOT_MODIFIED)
        message["text"] = text
        message["edit_date"] = int(time.time())
        self._set_markup(message, markup)
        return _ok(copy.deepcopy(message))

    @staticmethod
    def _set_markup(message: JsonDict, markup: JsonDict | None) -> None:
        """Set or remove a message's inline keyboard."""
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup

    def _set_webhook(self, params: JsonDict) -> Answer:
        """setWebhook: remember where updates would be pushed."""
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.fullmatch(str(secret)):
            return _bad_request("secret token contains unallowed characters")
        kept = (*WEBHOOK_FIELDS, *WEBHOOK_EXTRAS)
        self.webhook = {key: params[key] for key in kept if key in params}
        if not self.webhook.get("url"):
            self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return _ok(True)

    def _delete_webhook(self, params: JsonDict) -> Answer:
        """deleteWebhook: stop pushing updates, optionally dropping pending ones."""
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return _ok(True)

    def _get_webhook_info(self, params: JsonDict) -> Answer:
        """getWebhookInfo: the webhook URL and how many updates wait."""
        info: JsonDict = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("allowed_updates", "max_connections", "ip_address"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return _ok(info)

    def _get_updates(self, params: JsonDict) -> Answer:
        """getUpdates: confirm by offset, then answer queued updates or wait for some."""
        if self.webhook.get("url"):
            return WEBHOOK_CONFLICT
        self._confirm(int(_number(params.get("offset"), 0)))
        limit = int(_number(params.get("limit"), MAX_UPDATES_PER_POLL))
        limit = min(max(limit, 1), MAX_UPDATES_PER_POLL)
        allowed = params.get("allowed_updates") or []
        wait = min(_number(params.get("timeout"), 0), self.max_poll_wait)
        deadline = time.monotonic() + wait
        found = self._deliverable(limit, allowed)
        while not found and not self._stopping and (left := deadline - time.monotonic()) > 0:
            self._updates_arrived.wait(left)
            found = self._deliverable(limit, allowed)
        return _ok(copy.deepcopy(found))

    def _confirm(self, offset: int) -> None:
        """Forget updates an offset confirms, as Telegram does."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self, limit: int, allowed: list[str]) -> list[JsonDict]:
        """Queued updates of the allowed kinds, oldest first."""
        kinds = [u for u in self._updates if not allowed or _update_kind(u) in allowed]
        return kinds[:limit]

    def _set_my_commands(self, params: JsonDict) -> Answer:
        """setMyCommands: store the command list of a scope and language."""
        commands = params.get("commands")
        problem = _check_commands(commands)
        if problem is not None:
            return problem
        self.commands[_commands_key(params)] = copy.deepcopy(commands)
        return _ok(True)

    def _delete_my_commands(self, params: JsonDict) -> Answer:
        """deleteMyCommands: forget the command list of a scope and language."""
        self.commands.pop(_commands_key(params), None)
        return _ok(True)

    def _get_my_commands(self, params: JsonDict) -> Answer:
        """getMyCommands: the command list of a scope and language."""
        return _ok(copy.deepcopy(self.commands.get(_commands_key(params), [])))

    def _always_true(self, params: JsonDict) -> Answer:
        """close, logOut: nothing to do here."""
        return _ok(True)


def _suffix_of(filename: str) -> str:
    """The extension of a file name, dot included, or an empty string."""
    stem, dot, extension = filename.rpartition(".")
    return f".{extension}" if dot and stem else ""


@dataclass(frozen=True)
class _RateLimit:
    """How many send* calls Telegram allows per second, overall and per chat."""

    overall: float | None
    per_chat: float | None
    retry_after: int


_ALL_CHATS = None  # the key of the overall window; chats are keyed by their id


class _Faults(http.Faults):
    """Outages, scheduled failures, blocked chats and flood limits; callers hold the lock."""

    def __init__(self) -> None:
        super().__init__(OUTAGE)
        self.blocked: set[ChatId] = set()
        self.limit: _RateLimit | None = None
        self.sends = SlidingWindows()

    def before(self, method: str, chat_id: ChatId | None, now: float) -> Answer | None:
        """The fault that answers this call instead of the Bot API, if any."""
        return (
            self.scheduled_failure(method)
            or self._blocked(method, chat_id)
            or self._throttle(method, chat_id, now)
        )

    def note_success(self, method: str, chat_id: ChatId | None, now: float) -> None:
        """Count a successful send against the flood limits."""
        if self.limit is None or method not in SEND_METHODS:
            return
        self.sends.note(_ALL_CHATS, now)
        if chat_id is not None:
            self.sends.note(chat_id, now)

    def set_limit(self, limit: _RateLimit | None) -> None:
        """Set or remove the flood limits, starting with empty windows."""
        self.limit = limit
        self.sends.forget()

    def _blocked(self, method: str, chat_id: ChatId | None) -> Answer | None:
        """A 403 when the player blocked the bot."""
        return BLOCKED if method in SEND_METHODS and chat_id in self.blocked else None

    def _throttle(self, method: str, chat_id: ChatId | None, now: float) -> Answer | None:
        """A 429 when the overall or the chat's window is already full."""
        limit = self.limit
        if limit is None or method not in SEND_METHODS:
            return None
        if limit.overall and self.sends.full(_ALL_CHATS, limit.overall, now):
            return _too_many_requests(limit.retry_after)
        per_chat = limit.per_chat and chat_id is not None
        if per_chat and self.sends.full(chat_id, limit.per_chat, now):
            return _too_many_requests(limit.retry_after)
        return None


def _check_rate(per_second: float | None, name: str) -> None:
    """Refuse a rate that is not positive."""
    if per_second is not None and per_second <= 0:
        raise ValueError(f"{name} must be positive or None")


class FakeTelegram(TelegramBotApi, FakeHttpServer):
    """A fake Telegram Bot API on 127.0.0.1 that python-telegram-bot talks to unmodified."""

    thread_name = "fake-telegram"
    poll_interval = SERVE_POLL_SECONDS
    call_type = Call

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        TelegramBotApi.__init__(self, token)
        FakeHttpServer.__init__(self, self._lock)

    def _before_serving(self) -> None:
        """Let long polls wait again."""
        self._stopping = False

    def _before_shutdown(self) -> None:
        """End long polls so the server can stop."""
        with self._lock:
            self._stopping = True
            self._updates_arrived.notify_all()

    @property
    def url(self) -> str:
        """The server root: give PTB `url + "/bot"` and `url + "/file/bot"`."""
        return self.root

    def rate_limit(
        self,
        per_second_overall: float | None = 30,
        per_chat_per_second: float | None = 1,
        *,
        retry_after: int = 1,
    ) -> None:
        """Answer send* calls with 429 beyond these rates; `rate_limit(None, None)` lifts it."""
        _check_rate(per_second_overall, "per_second_overall")
        _check_rate(per_chat_per_second, "per_chat_per_second")
        if retry_after < 1:
            raise ValueError("retry_after must be at least 1 second")
        limited = per_second_overall is not None or per_chat_per_second is not None
        limit = _RateLimit(per_second_overall, per_chat_per_second, retry_after)
        with self._lock:
            self._faults.set_limit(limit if limited else None)

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with an error; `retry_after` makes a 429."""
        if retry_after is not None:
            answer = _too_many_requests(retry_after)
        else:
            answer = _error(status, description)
        with self._lock:
            self._faults.schedule(self._method_name(method), answer, times)

    def block(self, chat_id: ChatId) -> None:
        """The player blocks the bot: send* to the chat answers 403."""
        with self._lock:
            self._faults.blocked.add(chat_key(chat_id) or chat_id)

    def unblock(self, chat_id: ChatId) -> None:
        """The player unblocks the bot."""
        with self._lock:
            self._faults.blocked.discard(chat_key(chat_id) or chat_id)

    def reset(self) -> None:
        """Forget calls, state, faults and delays; keep the token and the server running."""
        with self._lock:
            super().reset()
            self.delays.clear()

    def _new_faults(self) -> _Faults:
        """Faults with no outage, failure, blocked chat or limit."""
        return _Faults()

    def _method_name(self, method: str) -> str:
        """The proper name of a method Telegram knows, else the name as called."""
        return self.canonical_method(method) or method

    def _scope_of(self, params: JsonDict) -> ChatId | None:
        """The chat a call is about, for blocked chats and per-chat flood limits."""
        return chat_key(params.get("chat_id"))

    def _answer(
        self, method: str, params: JsonDict, token: str, chat_id: ChatId | None, now: float
    ) -> Answer:
        """The answer to a call: outage, bad token, unknown method, fault or the method's own."""
        if (outage := self._faults.outage(now)) is not None:
            return outage
        if token != self.token:
            return UNAUTHORIZED
        if self.canonical_method(method) is None:
            return METHOD_NOT_FOUND
        fault = self._faults.before(method, chat_id, now)
        return fault or self.api(method, copy.deepcopy(params))

    def serve(self, method: str, path: str, headers: Message, body: bytes) -> Reply:
        """Route one HTTP request to a Bot API method or a file download."""
        parts = urlsplit(path)
        route = unquote(parts.path)
        if route.startswith("/file/bot"):
            token, _, file_path = route.removeprefix("/file/bot").partition("/")
            return self._serve_download(token, file_path)
        if route.startswith("/bot"):
            token, _, name = route.removeprefix("/bot").partition("/")
            return self._serve_api(token, name, parts.query, headers, body)
        return self.json_reply(FILE_NOT_FOUND)

    def _serve_api(
        self, token: str, method: str, query: str, headers: Message, body: bytes
    ) -> Reply:
        """Decode a Bot API request and answer it."""
        try:
            params = parse_params(headers.get("Content-Type", ""), body, query)
        except ValueError:
            return self.json_reply(_bad_request("can't parse request body"))
        return self.json_reply(self.answer_call(method, params, token))

    def _serve_download(self, token: str, file_path: str) -> Reply:
        """Serve the bytes of a registered file."""
        with self._lock:
            outage = self._faults.outage(time.monotonic())
        if outage is not None:
            return self.json_reply(outage)
        if token != self.token:
            return self.json_reply(UNAUTHORIZED)
        stored = self.file_at(file_path)
        if stored is None:
            return self.json_reply(FILE_NOT_FOUND)
        return Reply(200, stored.content, "application/octet-stream")


_update_ids = itertools.count(100_000_001)
_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)


def next_update_id() -> int:
    """A fresh update id, larger than every one handed out before."""
    return next(_update_ids)


class PlayerFields(TypedDict, total=False):
    """Who a player is, as Telegram describes the sender."""

    first_name: str
    username: str | None
    language_code: str | None


class MessageFields(PlayerFields, total=False):
    """Where and when a player's message was written."""

    chat_id: int | None
    chat_type: str
    chat_title: str
    message_id: int | None
    update_id: int | None
    date: int | None


def _utf16_length(text: str) -> int:
    """A length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _player(user_id: int, fields: PlayerFields) -> JsonDict:
    """A player as a User object."""
    user: JsonDict = {"id": user_id, "is_bot": False, "first_name": fields.get("first_name", "Ann")}
    username = fields.get("username", "ann")
    if username:
        user["username"] = username
    language_code = fields.get("language_code", "en")
    if language_code:
        user["language_code"] = language_code
    return user


def _chat(user: JsonDict, fields: MessageFields) -> JsonDict:
    """The chat a player writes in: their private chat, or a group."""
    chat_type = fields.get("chat_type", "private")
    chat_id = fields.get("chat_id") or user["id"]
    if chat_type != "private":
        return {"id": chat_id, "type": chat_type, "title": fields.get("chat_title", "Players")}
    chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
    return chat | ({"username": user["username"]} if "username" in user else {})


def _update(kind: str, payload: JsonDict, update_id: int | None) -> JsonDict:
    """An Update wrapping one payload."""
    return {"update_id": update_id or next_update_id(), kind: payload}


def _player_message(user_id: int, fields: MessageFields, **content: Any) -> JsonDict:
    """A message a player wrote, with the given content fields."""
    user = _player(user_id, fields)
    message = {
        "message_id": fields.get("message_id") or next(_message_ids),
        "from": user,
        "chat": _chat(user, fields),
        "date": fields.get("date") or int(time.time()),
    }
    return message | {key: value for key, value in content.items() if value is not None}


def _command_entities(text: str) -> list[JsonDict] | None:
    """The bot_command entity Telegram adds to a text that starts with a command."""
    if not text.startswith("/"):
        return None
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]


def _file(file_id: str, file_unique_id: str | None, **described: Any) -> JsonDict:
    """A file a player sent, described by the given fields after its ids."""
    return {"file_id": file_id, "file_unique_id": file_unique_id or f"u-{file_id}", **described}


def _file_update(
    user_id: int, fields: MessageFields, caption: str | None, **media: Any
) -> JsonDict:
    """A player's message carrying a file (photo, document, voice...) and maybe a caption."""
    message = _player_message(user_id, fields, **media, caption=caption)
    return _update("message", message, fields.get("update_id"))


def text_update(*, user_id: int, text: str, **fields: Unpack[MessageFields]) -> JsonDict:
    """A player's text message; a leading /command gets its bot_command entity."""
    message = _player_message(user_id, fields, text=text, entities=_command_entities(text))
    return _update("message", message, fields.get("update_id"))


def command_update(
    *, user_id: int, command: str = "/start", args: str = "", **fields: Unpack[MessageFields]
) -> JsonDict:
    """A player's command such as `/start payload`."""
    text = f"/{command.lstrip('/')} {args}".rstrip()
    return text_update(user_id=user_id, text=text, **fields)


def photo_update(
    *,
    user_id: int,
    file_id: str,
    file_unique_id: str | None = None,
    file_size: int = 50_000,
    caption: str | None = None,
    **fields: Unpack[MessageFields],
) -> JsonDict:
    """A player's photo, in the sizes Telegram makes of it; the largest is `file_id`."""
    sizes = photo_sizes(file_id, file_unique_id or f"u-{file_id}", file_size)
    return _file_update(user_id, fields, caption, photo=sizes)


def document_update(
    *,
    user_id: int,
    file_id: str,
    file_name: str,
    mime_type: str,
    file_size: int,
    file_unique_id: str | None = None,
    caption: str | None = None,
    **fields: Unpack[MessageFields],
) -> JsonDict:
    """A player's document (any file sent as a file)."""
    document = _file(
        file_id, file_unique_id, file_name=file_name, mime_type=mime_type, file_size=file_size
    )
    return _file_update(user_id, fields, caption, document=document)


def voice_update(
    *,
    user_id: int,
    file_id: str,
    duration: int = 3,
    file_size: int = 8_000,
    mime_type: str = "audio/ogg",
    file_unique_id: str | None = None,
    caption: str | None = None,
    **fields: Unpack[MessageFields],
) -> JsonDict:
    """A player's voice note."""
    voice = _file(
        file_id, file_unique_id, duration=duration, mime_type=mime_type, file_size=file_size
    )
    return _file_update(user_id, fields, caption, voice=voice)


def video_update(
    *,
    user_id: int,
    file_id: str,
    duration: int = 5,
    width: int = 1280,
    height: int = 720,
    file_size: int = 900_000,
    mime_type: str = "video/mp4",
    file_unique_id: str | None = None,
    caption: str | None = None,
    **fields: Unpack[MessageFields],
) -> JsonDict:
    """A player's video."""
    video = _file(
        file_id,
        file_unique_id,
        width=width,
        height=height,
        duration=duration,
        mime_type=mime_type,
        file_size=file_size,
    )
    return _file_update(user_id, fields, caption, video=video)


def edited_text_update(
    *,
    user_id: int,
    message_id: int,
    text: str,
    edit_date: int | None = None,
    **fields: Unpack[MessageFields],
) -> JsonDict:
    """A player's edit of an earlier text message."""
    edited_at = edit_date or int(time.time())
    fields = fields | {"message_id": message_id, "date": fields.get("date") or edited_at - 60}
    message = _player_message(user_id, fields, text=text, edit_date=edited_at)
    return _update("edited_message", message, fields.get("update_id"))


def callback_update(
    *,
    user_id: int,
    data: str,
    message_id: int,
    chat_id: int | None = None,
    message_text: str = "How can we help?",
    reply_markup: JsonDict | None = None,
    callback_query_id: str | None = None,
    update_id: int | None = None,
    bot_token: str = DEFAULT_TOKEN,
    **player: Unpack[PlayerFields],
) -> JsonDict:
    """A player's press of an inline button under the bot's message `message_id`."""
    user = _player(user_id, player)
    bot_message = {
        "message_id": message_id,
        "from": bot_user(bot_token),
        "chat": _chat(user, {"chat_id": chat_id}),
        "date": int(time.time()) - 30,
        "text": message_text,
    }
    if reply_markup is not None:
        bot_message["reply_markup"] = reply_markup
    query = {
        "id": callback_query_id or str(4_000_000_000_000 + next(_callback_ids)),
        "from": user,
        "message": bot_message,
        "chat_instance": f"-{abs(chat_id or user_id) * 7919}",
        "data": data,
    }
    return _update("callback_query", query, update_id)


def group_text_update(*, user_id: int, text: str, **fields: Unpack[MessageFields]) -> JsonDict:
    """A text message a player wrote in a group the bot is in."""
    fields.setdefault("chat_id", GROUP_CHAT_ID)
    fields.setdefault("chat_type", "group")
    return text_update(user_id=user_id, text=text, **fields)


def channel_post_update(
    *,
    text: str,
    chat_id: int = CHANNEL_CHAT_ID,
    chat_title: str = "Announcements",
    chat_username: str | None = None,
    message_id: int | None = None,
    update_id: int | None = None,
) -> JsonDict:
    """A post in a channel the bot administers; channel posts have no `from`."""
    chat: JsonDict = {"id": chat_id, "type": "channel", "title": chat_title}
    if chat_username:
        chat["username"] = chat_username
    post = {
        "message_id": message_id or next(_message_ids),
        "sender_chat": chat,
        "chat": chat,
        "date": int(time.time()),
        "text": text,
    }
    return _update("channel_post", post, update_id)
