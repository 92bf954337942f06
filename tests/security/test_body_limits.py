"""Bodies are capped as they stream in, before any route parses them: a real uvicorn
server, spoken to over a plain socket as a hostile client would."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pydantic
import pytest
import uvicorn
from slack_bolt import App

from handlers.body_limit import KIB, ROUTE_LIMITS, BodyLimits
from handlers.slack import SlackEndpoint
from handlers.web import create_app
from helpdesk.settings import Settings
from helpdesk.wiring import body_limits
from jobs.runtime import Runtime

KEY = "k" * 32
LIMIT = 16 * KIB
ROUTES = ("/api/v1/tickets", "/slack/events")


@pytest.fixture
def server(runtime: Runtime) -> Iterator[tuple[str, int]]:
    limits = BodyLimits(dict.fromkeys(ROUTE_LIMITS, LIMIT), default=KIB)
    bolt = App(token="xoxb-test", signing_secret="s", token_verification_enabled=False)
    slack = SlackEndpoint(bolt, "s")
    app = create_app(runtime, api_keys=[KEY], slack=slack, body_limits=limits)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        threading.Event().wait(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    uv.should_exit = True
    thread.join(timeout=10)


def head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: helpdesk.test", f"Authorization: Bearer {KEY}"]
    return ("\r\n".join([*lines, "Content-Type: application/json", *headers]) + "\r\n\r\n").encode()


def answer_of(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Status, JSON body and raw bytes of the one response; the socket must then close."""
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk  # recv returns b"" only once the server has closed the connection
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.split(b"\r\n\r\n", 1)[1]), raw


@pytest.mark.parametrize("path", ROUTES)
def test_an_endless_body_is_cut_off_at_the_limit_with_a_413(runtime: Runtime, path: str) -> None:
    """A body with no length that never ends (chunked, or a lying client): the app reads
    up to the limit and one chunk more, no further, and answers 413 naming the limit."""
    bolt = App(token="xoxb-test", signing_secret="s", token_verification_enabled=False)
    limits = BodyLimits(dict.fromkeys(ROUTE_LIMITS, LIMIT), default=KIB)
    app = create_app(runtime, api_keys=[KEY], slack=SlackEndpoint(bolt, "s"), body_limits=limits)
    piece = b'{"text": "' + b"a" * 4000
    given = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal given
        given += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "headers": [
            (b"host", b"helpdesk.test"),
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
    }
    asyncio.run(app(scope, receive, send))

    assert given <= LIMIT + len(piece)  # never read past the limit by more than one chunk
    start, body = sent[0], sent[1]
    assert start["status"] == 413
    assert (b"connection", b"close") in start["headers"]
    assert json.loads(body["body"]) == {"error": f"request body is larger than {LIMIT} bytes"}
    assert len(sent) == 2
    assert runtime.store.tickets.count_documents({}) == 0


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(
    server: tuple[str, int], runtime: Runtime
) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(head("/api/v1/tickets", f"Content-Length: {100 * 1024 * 1024}"))
        status, body, _ = answer_of(sock)  # answered with no body sent at all
    assert status == 413
    assert "larger than 16384 bytes" in body["error"]
    assert runtime.store.tickets.count_documents({}) == 0


def test_a_body_within_the_limit_is_served(server: tuple[str, int]) -> None:
    payload = json.dumps({"text": "My gems vanished", "player_id": "p-1"}).encode()
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(
            head("/api/v1/tickets", f"Content-Length: {len(payload)}", "Connection: close")
        )
        sock.sendall(payload)
        status, body, _ = answer_of(sock)
    assert status == 201, body


def test_routes_without_bodies_take_a_small_one(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(head("/healthz", f"Content-Length: {2 * KIB}"))
        status, _, _ = answer_of(sock)
    assert status == 413


def test_limits_are_settings_and_a_zero_one_is_refused() -> None:
    limits = body_limits(Settings(_env_file=None, api_body_limit=2048))
    assert limits.for_path("/api/v1/tickets") == 2048
    assert limits.for_path("/mailgun/inbound") == 40 * 1024 * 1024
    assert limits.for_path("/slack/events") == limits.for_path("/telegram/webhook") == 1024 * 1024
    with pytest.raises(pydantic.ValidationError):
        Settings(_env_file=None, slack_body_limit=0)
