"""Every request gets an id (the caller's `X-Request-Id` if it is a sane one), bound to all
log lines it causes and echoed in the response, with the channel its path serves."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketcore.logs import bind

HEADER = b"x-request-id"
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
CHANNELS = {"/telegram": "telegram", "/mailgun": "email", "/slack": "slack", "/api": "api"}


def channel_of(path: str) -> str | None:
    return next((name for prefix, name in CHANNELS.items() if path.startswith(prefix)), None)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(HEADER, b"").decode("latin-1")
        request_id = given if SANE_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers") or [])
                headers.append((HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with bind(request_id=request_id, channel=channel_of(scope.get("path", ""))):
            await self.app(scope, receive, send_with_id)
