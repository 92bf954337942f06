"""A fake Slack Web API served over real HTTP, and builders of the requests Slack sends apps."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes import http
from tests.fakes.http import (
    Answer,
    FakeHttpServer,
    JsonDict,
    Reply,
    Serials,
    SlidingWindows,
    media_type,
    parse_json_object,
    text_reply,
)

ApiMethod = Callable[[JsonDict], JsonDict]

TEAM_ID = "T0FAKE"
TEAM_DOMAIN = "fake"
APP_ID = "A0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
VERIFICATION_TOKEN = "fake-verification-token"
TOKEN_PREFIXES = ("xoxb-", "xoxp-")
JSON_STRING_ARGS = ("blocks", "view", "attachments", "metadata", "files")
FIRST_TS_MICROS = 1_700_000_000_000_000
TS_STEP_MICROS = 100
DEFAULT_PAGE, MAX_PAGE = 100, 999  # messages a page of history holds
# A response URL of a click on a message: five posts within 30 minutes.
RESPONSE_URL_USES, RESPONSE_URL_LIFETIME = 5, 30 * 60
SERVE_POLL_SECONDS = 0.05
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def _ok(**fields: Any) -> JsonDict:
    """A successful Web API body."""
    return {"ok": True, **fields}


def _error(code: str) -> JsonDict:
    """A failed Web API body, as Slack words it."""
    return {"ok": False, "error": code}


class Call(http.Call):
    """One Web API request the fake received and how it was answered."""

    @property
    def args(self) -> JsonDict:
        """The arguments of the call, as Slack names its parameters."""
        return self.params


def parse_args(content_type: str, body: bytes, query: str = "") -> JsonDict:
    """Decode Web API arguments from a query string and a form or JSON body."""
    args = _parse_form(query)
    if body:
        is_json = media_type(content_type)[0] == "application/json"
        args.update(parse_json_object(body) if is_json else _parse_form(body.decode()))
    return _decode_json_strings(args)


def _parse_form(text: str) -> JsonDict:
    """Decode form fields, keeping single values as strings."""
    pairs = parse_qs(text, keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in pairs.items()}


def _decode_json_strings(args: JsonDict) -> JsonDict:
    """Turn arguments Slack accepts as JSON strings (blocks, view...) into objects."""
    for key in JSON_STRING_ARGS:
        value = args.get(key)
        if isinstance(value, str):
            try:
                args[key] = json.loads(value)
            except ValueError:
                continue
    return args


def _flag(value: Any) -> bool:
    """A boolean argument as clients send it: true, 1 or "true"."""
    return str(value).lower() in ("1", "true")


def _page(args: JsonDict, items: list[JsonDict]) -> JsonDict:
    """One page of `items` by `limit` (100 by default, at most 999) and an opaque `cursor`,
    with `has_more` and the next cursor the way Slack's paginated methods answer."""
    try:
        limit = min(max(int(args.get("limit") or DEFAULT_PAGE), 1), MAX_PAGE)
        start = int(base64.b64decode(str(args.get("cursor") or "")).decode() or 0)
    except ValueError:
        return _error("invalid_cursor")
    rest = items[start + limit :]
    following = base64.b64encode(str(start + limit).encode()).decode() if rest else ""
    return _ok(
        messages=items[start : start + limit],
        has_more=bool(rest),
        response_metadata={"next_cursor": following},
    )


def _as_read(message: JsonDict, args: JsonDict) -> JsonDict:
    """A stored message as a reading method returns it: its metadata only on request."""
    if _flag(args.get("include_all_metadata")):
        return message
    return {key: value for key, value in message.items() if key != "metadata"}


def _bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer ...` header, or an empty string."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _is_valid_token(token: str) -> bool:
    """Whether a token looks like a bot or user token."""
    return token.startswith(TOKEN_PREFIXES)


def _format_ts(micros: int) -> str:
    """Format microseconds since the epoch as a Slack `ts`."""
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class SlackWorkspace:
    """The state of one fake workspace and its Web API methods, without any HTTP."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._serials = Serials()
        self.server_root = "http://127.0.0.1"
        self._clear_state()

    def _clear_state(self) -> None:
        """Forget every message, view, file and configured list."""
        self.messages: dict[str, list[JsonDict]] = {}
        self.ephemerals: list[JsonDict] = []
        self.views: dict[str, JsonDict] = {}
        self.home_views: dict[str, JsonDict] = {}
        self.channel_members: dict[str, list[str]] = {}
        self.usergroup_users: dict[str, list[str]] = {}
        self.pending_files: dict[str, JsonDict] = {}
        self.uploads: dict[str, bytes] = {}
        self.files: dict[str, JsonDict] = {}
        # Response URLs handed out with clicks on messages: the message, uses, expiry.
        self.response_hooks: dict[str, JsonDict] = {}
        self.response_url_lifetime = float(RESPONSE_URL_LIFETIME)

    def api(self, method: str, args: JsonDict) -> JsonDict:
        """Answer a Web API method the way Slack would."""
        handler = self._api_methods().get(method)
        if handler is None:
            return _error("unknown_method")
        with self._lock:
            return handler(args)

    def _api_methods(self) -> dict[str, ApiMethod]:
        """The Web API methods this fake implements."""
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.members": self._conversations_members,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    def messages_in(self, channel: str) -> list[JsonDict]:
        """Top-level messages of a channel, oldest first."""
        with self._lock:
            posted = self.messages.get(channel, [])
            return copy.deepcopy([m for m in posted if m.get("thread_ts", m["ts"]) == m["ts"]])

    def find_top_level(self, channel: str, **payload: Any) -> str | None:
        """The `ts` of the newest top-level message of `channel` whose metadata payload
        holds every given field, if any."""
        with self._lock:
            for message in reversed(self.messages.get(channel, [])):
                if message.get("thread_ts", message["ts"]) != message["ts"]:
                    continue
                found = (message.get("metadata") or {}).get("event_payload") or {}
                if all(found.get(key) == value for key, value in payload.items()):
                    return str(message["ts"])
            return None

    def thread(self, channel: str, ts: str) -> list[JsonDict]:
        """Replies in the thread under message `ts`, oldest first."""
        with self._lock:
            return copy.deepcopy(self._replies(channel, ts))

    def _next_ts(self) -> str:
        """A unique `ts`, later than every one handed out before."""
        return _format_ts(FIRST_TS_MICROS + self._serials.next("ts") * TS_STEP_MICROS)

    def _find_message(self, channel: str, ts: str) -> JsonDict | None:
        """The stored message `ts` in `channel`, if any."""
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def _replies(self, channel: str, ts: str) -> list[JsonDict]:
        """Stored replies to the thread rooted at `ts`."""
        posted = self.messages.get(channel, [])
        return [m for m in posted if m.get("thread_ts") == ts and m["ts"] != ts]

    def hook_message(self, response_id: str, channel: str, ts: str) -> None:
        """Tie a response URL to the message clicked, as Slack does for a click on it."""
        expires = time.monotonic() + self.response_url_lifetime
        with self._lock:
            self.response_hooks[response_id] = {
                "channel": channel,
                "ts": ts,
                "uses": 0,
                "expires": expires,
            }

    def respond(self, response_id: str, body: JsonDict) -> tuple[int, str]:
        """Act on a body posted to a response URL tied to a message: `replace_original`
        redraws it, `delete_original` removes it. The HTTP status and text answered."""
        with self._lock:
            hook = self.response_hooks.get(response_id)
            if hook is None:
                return 200, "ok"  # a slash command's URL: what is posted is only recorded
            if time.monotonic() >= hook["expires"]:
                return 404, "expired_url"
            if hook["uses"] >= RESPONSE_URL_USES:
                return 404, "used_url"
            hook["uses"] += 1
            message = self._find_message(hook["channel"], hook["ts"])
            if message is None:
                return 404, "message_not_found"
            if _flag(body.get("delete_original")):
                self.messages[hook["channel"]].remove(message)
            elif _flag(body.get("replace_original")) and body.get("response_type") != "ephemeral":
                for key in ("text", "blocks", "attachments"):
                    if key in body:
                        message[key] = body[key]
                message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
            return 200, "ok"

    def _auth_test(self, args: JsonDict) -> JsonDict:
        """auth.test: who the bot is."""
        return _ok(
            url="https://fake.slack.com/",
            team="Fake",
            user="helpdesk",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
        )

    def _chat_post_message(self, args: JsonDict) -> JsonDict:
        """chat.postMessage: store a message or a thread reply."""
        channel = args.get("channel")
        if not channel:
            return _error("channel_not_found")
        if not any(args.get(key) for key in ("text", "blocks", "attachments")):
            return _error("no_text")
        message = self._new_message(args)
        self.messages.setdefault(channel, []).append(message)
        self._count_reply(channel, message)
        return _ok(channel=channel, ts=message["ts"], message=message)

    def _new_message(self, args: JsonDict) -> JsonDict:
        """A message as Slack stores it for the bot."""
        message = {
            "type": "message",
            "ts": self._next_ts(),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": args.get("text", ""),
            "blocks": args.get("blocks", []),
        }
        for key in ("thread_ts", "attachments", "metadata"):
            if args.get(key):
                message[key] = args[key]
        return message

    def _count_reply(self, channel: str, reply: JsonDict) -> None:
        """Mark the parent of a thread reply the way Slack does."""
        parent = self._find_message(channel, reply.get("thread_ts", ""))
        if parent is None or parent is reply:
            return
        parent["thread_ts"] = parent["ts"]
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        parent["latest_reply"] = reply["ts"]

    def _chat_update(self, args: JsonDict) -> JsonDict:
        """chat.update: replace the given fields of a stored message."""
        channel, ts = args.get("channel", ""), args.get("ts", "")
        message = self._find_message(channel, ts)
        if message is None:
            return _error("message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return _ok(channel=channel, ts=ts, text=message["text"], message=message)

    def _chat_post_ephemeral(self, args: JsonDict) -> JsonDict:
        """chat.postEphemeral: record a message only one user sees."""
        if not args.get("channel"):
            return _error("channel_not_found")
        if not args.get("user"):
            return _error("user_not_found")
        message_ts = self._next_ts()
        fields = {key: args.get(key) for key in ("channel", "user", "text", "blocks")}
        self.ephemerals.append({**fields, "message_ts": message_ts})
        return _ok(message_ts=message_ts)

    def _views_open(self, args: JsonDict) -> JsonDict:
        """views.open and views.push: show a new modal."""
        if not args.get("trigger_id"):
            return _error("invalid_trigger_id")
        return self._store_view(args.get("view"), view_id=None)

    def _views_update(self, args: JsonDict) -> JsonDict:
        """views.update: replace a view found by id or external id."""
        current = self._find_view(args)
        if current is None:
            return _error("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            return _error("hash_conflict")
        return self._store_view(args.get("view"), view_id=current["id"])

    def _views_publish(self, args: JsonDict) -> JsonDict:
        """views.publish: set a user's Home tab."""
        user_id = args.get("user_id")
        if not user_id:
            return _error("user_not_found")
        current = self.home_views.get(user_id)
        if current and args.get("hash") and args["hash"] != current["hash"]:
            return _error("hash_conflict")
        answer = self._store_view(args.get("view"), view_id=current["id"] if current else None)
        if answer["ok"]:
            self.home_views[user_id] = answer["view"]
        return answer

    def _store_view(self, view: Any, *, view_id: str | None) -> JsonDict:
        """Store a view under a new hash, reusing `view_id` when given."""
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        view_id = view_id or f"V{self._serials.next('view')}"
        stored = {**view, "id": view_id, "hash": f"h{self._serials.next('hash')}"}
        self.views[view_id] = stored
        return _ok(view=stored)

    def _find_view(self, args: JsonDict) -> JsonDict | None:
        """The stored view named by `view_id` or `external_id`."""
        if args.get("view_id"):
            return self.views.get(args["view_id"])
        external_id = args.get("external_id")
        matches = (v for v in self.views.values() if v.get("external_id") == external_id)
        return next(matches, None) if external_id else None

    def _conversations_replies(self, args: JsonDict) -> JsonDict:
        """conversations.replies: a thread's parent followed by its replies."""
        channel = args.get("channel", "")
        found = self._find_message(channel, args.get("ts", ""))
        if found is None:
            return _error("thread_not_found")
        root_ts = found.get("thread_ts", found["ts"])
        root = self._find_message(channel, root_ts) or found
        thread = [root, *self._replies(channel, root_ts)]
        return _page(args, [_as_read(m, args) for m in thread])

    def _conversations_history(self, args: JsonDict) -> JsonDict:
        """conversations.history: a channel's top-level messages, newest first, between
        `oldest` and `latest` (exclusive unless `inclusive`)."""
        channel = args.get("channel")
        if not channel:
            return _error("channel_not_found")
        try:
            oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or "inf")
        except ValueError:
            return _error("invalid_ts_oldest")
        inclusive = _flag(args.get("inclusive"))

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        top = [
            _as_read(m, args)
            for m in reversed(self.messages.get(channel, []))
            if m.get("thread_ts", m["ts"]) == m["ts"] and within(float(m["ts"]))
        ]
        return _page(args, top)

    def _conversations_members(self, args: JsonDict) -> JsonDict:
        """conversations.members: the configured members of a channel."""
        members = self.channel_members.get(args.get("channel", ""))
        if members is None:
            return _error("channel_not_found")
        return _ok(members=list(members), response_metadata={"next_cursor": ""})

    def _usergroups_users_list(self, args: JsonDict) -> JsonDict:
        """usergroups.users.list: the configured users of a user group."""
        users = self.usergroup_users.get(args.get("usergroup", ""))
        if users is None:
            return _error("no_such_subteam")
        return _ok(users=list(users))

    def _users_info(self, args: JsonDict) -> JsonDict:
        """users.info: a made-up profile for any user id."""
        user = args.get("user")
        if not user:
            return _error("user_not_found")
        return _ok(
            user={"id": user, "name": user.lower(), "real_name": f"User {user}", "tz": "UTC"}
        )

    def _conversations_open(self, args: JsonDict) -> JsonDict:
        """conversations.open: the direct-message channel with one user, always the same."""
        users = str(args.get("users") or "")
        if not users or "," in users:
            return _error("user_not_found" if not users else "not_implemented")
        return _ok(channel={"id": f"D{users.removeprefix('U')}", "is_im": True})

    def _files_get_upload_url(self, args: JsonDict) -> JsonDict:
        """files.getUploadURLExternal: hand out an upload URL on this server."""
        filename, length = args.get("filename"), str(args.get("length", ""))
        if not filename or not length.isdigit():
            return _error("invalid_arguments")
        file_id = f"F{self._serials.next('file')}"
        self.pending_files[file_id] = {"id": file_id, "name": filename, "size": int(length)}
        return _ok(upload_url=f"{self.server_root}/upload/{file_id}", file_id=file_id)

    def receive_upload(self, file_id: str, content: bytes) -> bool:
        """Keep the bytes posted to an upload URL; False if the URL was never issued."""
        with self._lock:
            if file_id not in self.pending_files:
                return False
            self.uploads[file_id] = content
            return True

    def _files_complete_upload(self, args: JsonDict) -> JsonDict:
        """files.completeUploadExternal: share uploaded files."""
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            return _error("invalid_arguments")
        if any(not isinstance(e, dict) or e.get("id") not in self.uploads for e in entries):
            return _error("file_not_found")
        channel_id = args.get("channel_id")
        return _ok(files=[self._share_file(entry, channel_id) for entry in entries])

    def _share_file(self, entry: JsonDict, channel_id: str | None) -> JsonDict:
        """Record one completed upload and describe it as Slack does."""
        pending = self.pending_files[entry["id"]]
        title = entry.get("title") or pending["name"]
        shared = {**pending, "title": title, "channels": [channel_id] if channel_id else []}
        self.files[shared["id"]] = shared
        return shared


@dataclass(frozen=True)
class _RateLimit:
    """How many successful calls a method may answer per second."""

    per_second: float
    per_channel: bool
    retry_after: int


class _Faults(http.Faults):
    """Outages, scheduled failures and rate limits; callers hold the fake's lock."""

    def __init__(self) -> None:
        super().__init__(Answer(500, _error("internal_error")))
        self.limits: dict[str, _RateLimit] = {}
        self.successes = SlidingWindows()

    def before(self, method: str, scope: str, now: float) -> Answer | None:
        """The fault that answers this call instead of Slack, if any."""
        return (
            self.outage(now) or self.scheduled_failure(method) or self._throttle(method, scope, now)
        )

    def note_success(self, method: str, scope: str, now: float) -> None:
        """Count a successful call against the method's rate limit."""
        limit = self.limits.get(method)
        if limit is not None:
            self.successes.note(self._key(method, scope, limit), now)

    def set_limit(self, method: str, limit: _RateLimit | None) -> None:
        """Set or remove a method's rate limit."""
        self.limits.pop(method, None)
        self.successes.forget(lambda key: key[0] == method)
        if limit is not None:
            self.limits[method] = limit

    def _throttle(self, method: str, scope: str, now: float) -> Answer | None:
        """A 429 when the sliding window is already full."""
        limit = self.limits.get(method)
        if limit is None:
            return None
        if not self.successes.full(self._key(method, scope, limit), limit.per_second, now):
            return None
        return Answer(429, _error("ratelimited"), {"Retry-After": str(limit.retry_after)})

    @staticmethod
    def _key(method: str, scope: str, limit: _RateLimit) -> tuple[str, str]:
        """The bucket a call counts in."""
        return (method, scope if limit.per_channel else "")


class ResponseUrlCatcher:
    """Collects the bodies the app posts to interaction response URLs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[str, JsonDict]] = []

    @property
    def responses(self) -> list[JsonDict]:
        """Every body received, oldest first."""
        with self._lock:
            return [copy.deepcopy(body) for _, body in self._received]

    def responses_for(self, response_id: str) -> list[JsonDict]:
        """Bodies posted to one response URL, oldest first."""
        with self._lock:
            return [copy.deepcopy(body) for rid, body in self._received if rid == response_id]

    def record(self, response_id: str, body: JsonDict) -> None:
        """Keep one posted body."""
        with self._lock:
            self._received.append((response_id, body))

    def clear(self) -> None:
        """Forget every body."""
        with self._lock:
            self._received.clear()


class FakeSlack(SlackWorkspace, FakeHttpServer):
    """A fake Slack Web API on 127.0.0.1 that the real slack_sdk WebClient talks to."""

    thread_name = "fake-slack"
    poll_interval = SERVE_POLL_SECONDS
    json_type = JSON_CONTENT_TYPE
    call_type = Call

    def __init__(self) -> None:
        SlackWorkspace.__init__(self)
        FakeHttpServer.__init__(self, self._lock)
        self.response_catcher = ResponseUrlCatcher()

    def _before_serving(self) -> None:
        """Hand out upload URLs on this server from now on."""
        self.server_root = self.root

    @property
    def url(self) -> str:
        """The Web API base URL to give `WebClient(base_url=...)`."""
        return f"{self.root}/api/"

    @property
    def responses(self) -> list[JsonDict]:
        """Bodies the app posted to response URLs, oldest first."""
        return self.response_catcher.responses

    def responses_for(self, response_id: str) -> list[JsonDict]:
        """Bodies the app posted to the response URL `response_id`."""
        return self.response_catcher.responses_for(response_id)

    def response_url(
        self, response_id: str, *, channel: str | None = None, ts: str | None = None
    ) -> str:
        """A response URL on this server that records what is posted to it; given the
        message clicked, it also acts on that message, five times within 30 minutes."""
        if channel is not None and ts is not None:
            self.hook_message(response_id, channel, ts)
        return f"{self.server_root}/response/{response_id}"

    def rate_limit(
        self,
        method: str,
        per_second: float | None,
        *,
        per_channel: bool = True,
        retry_after: int = 1,
    ) -> None:
        """Answer 429 beyond `per_second` successful calls a second; None removes the limit."""
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be positive")
        limit = None if per_second is None else _RateLimit(per_second, per_channel, retry_after)
        with self._lock:
            self._faults.set_limit(method, limit)

    def fail_next(
        self, method: str, times: int = 1, *, status: int = 500, error: str | None = None
    ) -> None:
        """Answer the next `times` calls of `method` with HTTP `status` and `ok: false`."""
        throttled = status == 429
        headers = {"Retry-After": "1"} if throttled else {}
        default_error = "ratelimited" if throttled else "internal_error"
        answer = Answer(status, _error(error or default_error), headers)
        with self._lock:
            self._faults.schedule(method, answer, times)

    def reset(self) -> None:
        """Forget calls, state, configured lists, responses and faults."""
        super().reset()
        self.response_catcher.clear()

    def _new_faults(self) -> _Faults:
        """Faults with no outage, failure or limit."""
        return _Faults()

    def _scope_of(self, params: JsonDict) -> str:
        """The channel a call is about, for per-channel rate limits."""
        return str(params.get("channel") or params.get("channel_id") or "")

    def _answer(self, method: str, args: JsonDict, token: str, scope: str, now: float) -> Answer:
        """A fault, or Slack's answer for a caller whose token is checked first."""
        fault = self._faults.before(method, scope, now)
        if fault is not None:
            return fault
        if not _is_valid_token(token):
            return Answer(200, _error("invalid_auth"))
        return Answer(200, copy.deepcopy(self.api(method, copy.deepcopy(args))))

    def serve(self, method: str, path: str, headers: Message, body: bytes) -> Reply:
        """Route one HTTP request to the Web API, an upload URL or a response URL."""
        parts = urlsplit(path)
        route, _, name = parts.path.strip("/").partition("/")
        if route == "api" and name:
            return self._serve_api(name, parts.query, headers, body)
        if route == "upload" and name:
            return self._serve_upload(name, body)
        if route == "response" and name:
            return self._serve_response(name, headers, body)
        return text_reply(404, "not_found")

    def _serve_api(self, method: str, query: str, headers: Message, body: bytes) -> Reply:
        """Decode a Web API request and answer it."""
        try:
            args = parse_args(headers.get("Content-Type", ""), body, query)
        except ValueError:
            return self.json_reply(Answer(200, _error("invalid_json")))
        token = _bearer_token(headers.get("Authorization", "")) or str(args.get("token", ""))
        return self.json_reply(self.answer_call(method, args, token))

    def _serve_upload(self, file_id: str, body: bytes) -> Reply:
        """Accept the bytes of a file upload."""
        if not self.receive_upload(file_id, body):
            return text_reply(404, "upload_url_not_found")
        return text_reply(200, f"OK - {len(body)}")

    def _serve_response(self, response_id: str, headers: Message, body: bytes) -> Reply:
        """Record a body posted to a response URL."""
        try:
            posted = parse_args(headers.get("Content-Type", ""), body)
        except ValueError:
            return text_reply(400, "invalid_payload")
        self.response_catcher.record(response_id, posted)
        return text_reply(*self.respond(response_id, posted))


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's signature headers for `body`; the caller sets Content-Type."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def _form_payload(payload: JsonDict) -> bytes:
    """Form-encode an interaction payload as `payload=<json>`."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def _plain_text(text: str) -> JsonDict:
    """A Block Kit plain_text object."""
    return {"type": "plain_text", "text": text, "emoji": True}


def _payload_user(user: str) -> JsonDict:
    """The `user` object of an interaction payload."""
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID}


def _payload_team() -> JsonDict:
    """The `team` object of an interaction payload."""
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def _channel_name(channel: str) -> str:
    """A readable name made from a channel id, e.g. C0TRIAGE -> triage."""
    return channel.removeprefix("C0").removeprefix("C").lower() or "general"


def _bot_message(ts: str) -> JsonDict:
    """The message a clicked element sits in, as posted by the bot."""
    return {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "ts": ts,
        "text": "",
        "blocks": [],
        "team": TEAM_ID,
    }


def _action(
    action_id: str,
    value: str | None,
    selected: str | None,
    selected_user: str | None = None,
    block_id: str | None = None,
) -> JsonDict:
    """One element of `actions`: a users_select when `selected_user`, a static_select when
    `selected`, else a button."""
    action: JsonDict = {
        "action_id": action_id,
        "block_id": block_id or f"{action_id}-block",
        "action_ts": f"{time.time():.6f}",
    }
    if selected_user is not None:
        return action | {"type": "users_select", "selected_user": selected_user}
    if selected is not None:
        option = {"text": _plain_text(selected), "value": selected}
        return action | {"type": "static_select", "selected_option": option}
    action |= {"type": "button", "text": _plain_text(action_id)}
    if value is not None:
        action["value"] = value
    return action


def _action_container(channel: str, message_ts: str | None, view: JsonDict | None) -> JsonDict:
    """Where the clicked element lives: a view or a (possibly ephemeral) message."""
    if view is not None:
        return {"type": "view", "view_id": view.get("id", "V1")}
    container: JsonDict = {"type": "message", "channel_id": channel}
    if message_ts is None:
        return container | {"is_ephemeral": True}
    return container | {"message_ts": message_ts, "is_ephemeral": False}


def block_action_body(
    *,
    user: str,
    action_id: str,
    value: str | None = None,
    selected: str | None = None,
    trigger_id: str = "T-trigger-1",
    channel: str = "C0TRIAGE",
    message_ts: str | None = None,
    response_url: str | None = None,
    view: JsonDict | None = None,
    selected_user: str | None = None,
    block_id: str | None = None,
) -> bytes:
    """A form-encoded `block_actions` request body; inside a view it has no channel."""
    payload: JsonDict = {
        "type": "block_actions",
        "user": _payload_user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": _action_container(channel, message_ts, view),
        "trigger_id": trigger_id,
        "team": _payload_team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [_action(action_id, value, selected, selected_user, block_id)],
    }
    if view is None:
        payload["channel"] = {"id": channel, "name": _channel_name(channel)}
    else:
        payload["view"] = view
    if message_ts is not None:
        payload["message"] = _bot_message(message_ts)
    if response_url is not None:
        payload["response_url"] = response_url
    return _form_payload(payload)


def _submitted_view(
    view_id: str, callback_id: str, private_metadata: str, values: JsonDict
) -> JsonDict:
    """The modal of a `view_submission`, with its state."""
    return {
        "id": view_id,
        "team_id": TEAM_ID,
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "state": {"values": values},
        "hash": "h1",
        "title": _plain_text("Ticket"),
        "submit": _plain_text("Submit"),
        "close": _plain_text("Cancel"),
        "blocks": [],
        "clear_on_close": False,
        "notify_on_close": False,
        "external_id": "",
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_id": APP_ID,
        "app_installed_team_id": TEAM_ID,
        "bot_id": BOT_ID,
    }


def view_submission_body(
    *,
    user: str,
    callback_id: str,
    private_metadata: str,
    values: JsonDict,
    view_id: str = "V1",
) -> bytes:
    """A form-encoded `view_submission` request body; `values` is Slack's state.values."""
    payload = {
        "type": "view_submission",
        "team": _payload_team(),
        "user": _payload_user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": "T-trigger-3",
        "view": _submitted_view(view_id, callback_id, private_metadata, values),
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }
    return _form_payload(payload)


def slash_command_body(
    *,
    user: str,
    command: str = "/ticket",
    text: str = "",
    channel: str = "C0TRIAGE",
    response_url: str = "",
    trigger_id: str = "T-trigger-2",
) -> bytes:
    """A form-encoded slash command request body, with the fields Slack sends."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel,
        "channel_name": _channel_name(channel),
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    return urlencode(fields).encode()


def event_body(event: JsonDict, *, event_id: str = "Ev0001", team_id: str = TEAM_ID) -> bytes:
    """A JSON `event_callback` request body wrapping `event`."""
    authorization = {
        "enterprise_id": None,
        "team_id": team_id,
        "user_id": BOT_USER_ID,
        "is_bot": True,
        "is_enterprise_install": False,
    }
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [authorization],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }
    return json.dumps(envelope).encode()
