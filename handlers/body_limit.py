"""Every request body is capped as it streams in, before anything parses it.

A declared `Content-Length` over the route's limit is refused before a byte is read; a
chunked body, or one longer than it said, is cut off at the limit. Either way the answer
is a 413 with the limit in it and the connection is closed, so memory never holds more
than the limit plus one chunk, whatever the client sends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class BodyLimits:
    """Bytes a request body may have, by path prefix; the longest prefix wins."""

    by_prefix: dict[str, int] = field(default_factory=dict)
    default: int = 64 * KIB  # health, metrics, rating pages: no route needs a body

    def for_path(self, path: str) -> int:
        matches = [prefix for prefix in self.by_prefix if path.startswith(prefix)]
        return self.by_prefix[max(matches, key=len)] if matches else self.default


# What each route's bodies need: Slack, Telegram and the game send small JSON or forms;
# Mailgun forwards mails of up to 25 MB as a form of their parts and attachments.
ROUTE_LIMITS = {"/api/": MIB, "/slack/": MIB, "/telegram/": MIB, "/mailgun/": 40 * MIB}


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware enforcing `BodyLimits` on every HTTP request."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await too_large(send, limit)
            return
        seen = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's own answer to a body it never got whole is not sent
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await too_large(send, limit)


async def too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"request body is larger than {limit} bytes"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
