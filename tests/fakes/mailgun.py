"""A fake Mailgun served over real HTTP: the sending API, `POST /v3/<domain>/messages`,
and the events API's look-up of accepted messages, `GET /v3/<domain>/events`."""

from __future__ import annotations

import base64
import binascii
import copy
import email
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes import http
from tests.fakes.http import (
    Answer,
    FakeHttpServer,
    JsonDict,
    Reply,
    Serials,
    SlidingWindows,
    media_type,
    text_reply,
)

DEFAULT_DOMAIN = "mg.example.com"
DEFAULT_API_KEY = "key-test"
API_USER = "api"
QUEUED = "Queued. Thank you."
FORBIDDEN = "Forbidden"
NOT_FOUND = "404 page not found"
SERVE_POLL_SECONDS = 0.01
ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+")
MESSAGES_PATH = re.compile(r"/v3/(?P<domain>[^/]+)/messages/?")
EVENTS_PATH = re.compile(r"/v3/(?P<domain>[^/]+)/events/?")
MAX_EVENTS = 300  # Mailgun's most per page
BODY_FIELDS = ("text", "html", "template")
NOT_AN_ADDRESS = "'{}' parameter is not a valid address. please check documentation"
NO_BODY = "Need at least one of 'text', 'html' or 'template' parameters specified"

File = tuple[str, str, bytes]
"""An uploaded file: filename, content type and bytes."""


@dataclass(frozen=True)
class SentMail:
    """One message Mailgun accepted, as the client asked for it.

    `to` holds the `to` values as sent (one may list several addresses); tags are kept as
    sent, even beyond Mailgun's 3 tags of 128 characters, so tests can check the client.
    """

    id: str
    sender: str
    to: list[str]
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    tags: list[str]
    variables: dict[str, str]
    attachments: list[File]
    at: float  # time.monotonic() when accepted, as in Call.at
    options: dict[str, str] = field(default_factory=dict)

    @property
    def recipients(self) -> list[str]:
        """The bare addresses of every `to` value."""
        return [address for _, address in getaddresses(self.to)]

    def header(self, name: str) -> str | None:
        """A custom `h:` header whatever the case of its name, or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class MailgunAnswer(Answer):
    """An answer whose body is JSON, or plain `text` when set (Mailgun's 401 is text)."""

    text: str | None = None

    @property
    def ok(self) -> bool:
        """Mailgun says yes with a plain 200."""
        return self.status == 200


class Call(http.Call):
    """One request to the sending API and how it was answered."""

    @property
    def ok(self) -> bool:
        """Whether the message was accepted."""
        return self.status == 200


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> MailgunAnswer:
    """A JSON `{"message": ...}` answer, the shape of every Mailgun reply."""
    return MailgunAnswer(status, {"message": message}, headers or {})


def _forbidden() -> MailgunAnswer:
    """The plain-text 401 for a missing or wrong API key."""
    return MailgunAnswer(401, {"message": FORBIDDEN}, text=FORBIDDEN)


def _failure(status: int, retry_after: int | None, message: str | None) -> MailgunAnswer:
    """A scheduled error answer; 401 is plain text like the real one."""
    if status == 401:
        return _forbidden()
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return _message(status, message or HTTPStatus(status).phrase, headers)


def parse_form(content_type: str, body: bytes) -> list[tuple[str, str | File]]:
    """Form fields in order, from an urlencoded or multipart/form-data body."""
    kind, boundary = media_type(content_type)
    if kind == "multipart/form-data" and boundary:
        return list(_multipart_fields(body, boundary.encode()))
    return list(parse_qsl(body.decode(), keep_blank_values=True))


def _multipart_fields(body: bytes, boundary: bytes) -> Iterator[tuple[str, str | File]]:
    """Plain parts as strings, file parts as (filename, content type, exact bytes)."""
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            return
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = email.message_from_string(head.decode("utf-8", "replace") + "\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        content = content.removesuffix(b"\r\n")
        filename = headers.get_filename()
        if filename is None:
            yield name, content.decode("utf-8", "replace")
        else:
            yield name, (filename, headers.get_content_type(), content)


def group_fields(fields: list[tuple[str, str | File]]) -> JsonDict:
    """Fields by name: a single value as is, repeated ones (`o:tag`, `attachment`) as lists."""
    grouped: dict[str, list[str | File]] = {}
    for name, value in fields:
        grouped.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def _values(params: JsonDict, name: str) -> list[Any]:
    """Every value of a field, as a list."""
    value = params.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _texts(params: JsonDict, name: str) -> list[str]:
    """The text values of a field; stray files are ignored."""
    return [value for value in _values(params, name) if isinstance(value, str)]


def _first_text(params: JsonDict, name: str) -> str | None:
    """The first text value of a field, or None."""
    return next(iter(_texts(params, name)), None)


def _valid_addresses(values: list[str]) -> bool:
    """Whether every address in `values` (each possibly a list) looks deliverable."""
    addresses = getaddresses(values)
    return bool(addresses) and all(ADDRESS.fullmatch(address) for _, address in addresses)


def _check_address(params: JsonDict, name: str) -> MailgunAnswer | None:
    """The 400 Mailgun gives for a missing or unparsable `to` / `from`."""
    values = [value for value in _texts(params, name) if value.strip()]
    if not values:
        return _message(400, f"'{name}' parameter is missing")
    if not _valid_addresses(values):
        return _message(400, NOT_AN_ADDRESS.format(name))
    return None


def _validate(params: JsonDict) -> MailgunAnswer | None:
    """The 400 for a message Mailgun would refuse, or None."""
    problem = _check_address(params, "from") or _check_address(params, "to")
    if problem is not None:
        return problem
    if not any(_first_text(params, name) for name in BODY_FIELDS):
        return _message(400, NO_BODY)
    return None


def _prefixed(params: JsonDict, prefix: str) -> dict[str, str]:
    """The `prefix`-ed fields without their prefix: `h:Reply-To` -> `Reply-To`."""
    return {
        name.removeprefix(prefix): texts[-1]
        for name in params
        if name.startswith(prefix) and (texts := _texts(params, name))
    }


def _basic_auth(authorization: str) -> tuple[str, str] | None:
    """User and password of an `Authorization: Basic ...` header."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _normal_id(message_id: str) -> str:
    """A Message-Id without blanks or angle brackets, for comparison."""
    return message_id.strip().strip("<>").strip()


@dataclass(frozen=True)
class _RateLimit:
    """How many messages a second Mailgun accepts before answering 429."""

    per_second: float
    retry_after: int


class _Faults(http.Faults):
    """Outages, scheduled failures and a sending rate limit; callers hold the fake's lock."""

    def __init__(self) -> None:
        super().__init__(_message(500, "Internal Server Error"))
        self.limit: _RateLimit | None = None
        self.sends = SlidingWindows()

    def before(self, method: str, now: float) -> Answer | None:
        """The scheduled failure or 429 that answers this call instead, if any (the rate
        limit counts sends only)."""
        throttled = self._throttle(now) if method == "messages" else None
        return self.scheduled_failure(method) or throttled

    def note_success(self, method: str, scope: Any, now: float) -> None:
        """Count an accepted message against the rate limit."""
        if self.limit is not None and method.endswith("/messages"):
            self.sends.note(None, now)

    def set_limit(self, limit: _RateLimit | None) -> None:
        """Set or remove the rate limit, starting with an empty window."""
        self.limit = limit
        self.sends.forget()

    def _throttle(self, now: float) -> Answer | None:
        """A 429 when the window already holds every message allowed."""
        limit = self.limit
        if limit is None or not self.sends.full(None, limit.per_second, now):
            return None
        headers = {"Retry-After": str(limit.retry_after)}
        return _message(429, "Too many requests, please try again later", headers)


class FakeMailgun(FakeHttpServer):
    """A fake Mailgun on 127.0.0.1: give its `url` to the client as `MAILGUN_API_URL`.

    Calls are recorded under the API path `<domain>/messages` (see `endpoint`); accepted
    messages are kept as `SentMail` in `messages`.
    """

    thread_name = "fake-mailgun"
    poll_interval = SERVE_POLL_SECONDS
    call_type = Call
    _faults: _Faults

    def __init__(self, domain: str = DEFAULT_DOMAIN, api_key: str = DEFAULT_API_KEY) -> None:
        self.domain = domain
        self.api_key = api_key
        self._serials = Serials()
        self._sent: list[SentMail] = []
        super().__init__()

    @property
    def endpoint(self) -> str:
        """The name calls to this domain's sending API are recorded under."""
        return f"{self.domain}/messages"

    @property
    def messages_url(self) -> str:
        """The full sending URL, `{url}/v3/{domain}/messages`."""
        return f"{self.url}/v3/{self.endpoint}"

    @property
    def messages(self) -> list[SentMail]:
        """Every accepted message, oldest first (a copy)."""
        with self._lock:
            return copy.deepcopy(self._sent)

    def message_with_id(self, message_id: str) -> SentMail | None:
        """The accepted message whose `h:Message-Id` is `message_id` (brackets optional)."""
        wanted = _normal_id(message_id)
        for mail in self.messages:
            sent_id = mail.header("Message-Id")
            if sent_id is not None and _normal_id(sent_id) == wanted:
                return mail
        return None

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: int | None = None,
        message: str | None = None,
        api: str = "messages",
    ) -> None:
        """Answer the next `times` calls of `api` ("messages" or "events") with HTTP
        `status`, with `Retry-After` when given."""
        answer = _failure(status, retry_after, message)
        with self._lock:
            self._faults.schedule(api, answer, times)

    def rate_limit(self, per_second: float | None, *, retry_after: int = 1) -> None:
        """Answer 429 beyond `per_second` accepted messages a second; None lifts the limit."""
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be positive or None")
        limit = None if per_second is None else _RateLimit(per_second, retry_after)
        with self._lock:
            self._faults.set_limit(limit)

    def _clear_state(self) -> None:
        """Forget every accepted message."""
        self._sent.clear()

    def _new_faults(self) -> _Faults:
        """Faults with no outage, failure or limit."""
        return _Faults()

    def _answer(self, method: str, params: JsonDict, token: str, scope: Any, now: float) -> Answer:
        """Outage, bad key, unknown domain, fault, invalid message, or the message is queued."""
        if (outage := self._faults.outage(now)) is not None:
            return outage
        if token != self.api_key:
            return _forbidden()
        domain, _, api = method.rpartition("/")
        if domain != self.domain:
            return _message(404, f"Domain not found: {domain}")
        fault = self._faults.before(api, now)
        if fault is not None:
            return fault
        if api == "events":
            return self._events(params, now)
        problem = _validate(params)
        if problem is not None:
            return problem
        mail = self._accept(params, now)
        return MailgunAnswer(200, {"id": mail.id, "message": QUEUED})

    def _events(self, params: JsonDict, now: float) -> MailgunAnswer:
        """Accepted messages as `accepted` events, newest first, filtered by `event` and
        `message-id` (Mailgun's id: the Message-Id without brackets)."""
        if params.get("event", "accepted") != "accepted":
            return MailgunAnswer(200, {"items": [], "paging": {}})
        wanted = params.get("message-id")
        try:
            limit = min(int(params.get("limit", MAX_EVENTS)), MAX_EVENTS)
        except ValueError:
            return _message(400, "Invalid limit")
        items = [
            {
                "event": "accepted",
                "id": f"ev-{n}",
                "timestamp": time.time() - (now - mail.at),
                "recipient": mail.recipients[0] if mail.recipients else "",
                "message": {
                    "headers": {"message-id": _normal_id(mail.id), "to": ", ".join(mail.to)}
                },
            }
            for n, mail in enumerate(self._sent)
            if wanted is None or _normal_id(mail.id) == _normal_id(wanted)
        ]
        return MailgunAnswer(200, {"items": items[::-1][:limit], "paging": {}})

    def _accept(self, params: JsonDict, now: float) -> SentMail:
        """Record a valid message and give it an id."""
        headers = _prefixed(params, "h:")
        custom_id = next((v for k, v in headers.items() if k.lower() == "message-id"), None)
        serial = self._serials.next("message")
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        generated = f"<{stamp}.{serial}.{secrets.token_hex(8).upper()}@{self.domain}>"
        mail = SentMail(
            id=f"<{_normal_id(custom_id)}>" if custom_id else generated,
            sender=_first_text(params, "from") or "",
            to=_texts(params, "to"),
            subject=_first_text(params, "subject") or "",
            text=_first_text(params, "text"),
            html=_first_text(params, "html"),
            headers=headers,
            tags=_texts(params, "o:tag"),
            variables=_prefixed(params, "v:"),
            attachments=[file for file in _values(params, "attachment") if isinstance(file, tuple)],
            at=now,
            options={k: v for k, v in _prefixed(params, "o:").items() if k != "tag"},
        )
        self._sent.append(mail)
        return mail

    def serve(self, method: str, path: str, headers: Message, body: bytes) -> Reply:
        """Answer `POST /v3/<domain>/messages` and `GET /v3/<domain>/events`; anything
        else is not found."""
        credentials = _basic_auth(headers.get("Authorization", ""))
        key = credentials[1] if credentials is not None and credentials[0] == API_USER else ""
        parts = urlsplit(path)
        events = EVENTS_PATH.fullmatch(parts.path)
        if method == "GET" and events is not None:
            query = dict(parse_qsl(parts.query))
            domain = unquote(events["domain"])
            return self._reply(self.answer_call(f"{domain}/events", query, key))
        route = MESSAGES_PATH.fullmatch(parts.path)
        if method != "POST" or route is None:
            return text_reply(404, NOT_FOUND)
        try:
            params = group_fields(parse_form(headers.get("Content-Type", ""), body))
        except (UnicodeDecodeError, ValueError):
            return self._reply(_message(400, "Invalid form body"))
        domain = unquote(route["domain"])
        return self._reply(self.answer_call(f"{domain}/messages", params, key))

    def _reply(self, answer: Answer) -> Reply:
        """Plain text for the 401, JSON for everything else."""
        if isinstance(answer, MailgunAnswer) and answer.text is not None:
            reply = text_reply(answer.status, answer.text)
            return Reply(reply.status, reply.content, reply.content_type, answer.headers)
        return self.json_reply(answer)
