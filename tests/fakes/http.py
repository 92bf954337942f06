"""What the fake APIs share: a real HTTP server in a background thread, recorded calls,
faults, replies, body parsing and sliding-window rate limits."""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

JsonDict = dict[str, Any]
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded"


def _succeeded(status: int, body: JsonDict) -> bool:
    """Whether an HTTP status and JSON body report success: 200 with `ok: true`."""
    return status == 200 and body.get("ok") is True


@dataclass(frozen=True)
class Answer:
    """An API answer: HTTP status, JSON body and extra headers."""

    status: int
    body: JsonDict
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the answer is a success."""
        return _succeeded(self.status, self.body)


@dataclass(frozen=True)
class Call:
    """One API request the fake received and how it was answered."""

    method: str
    params: JsonDict
    status: int
    at: float
    answer: JsonDict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the call succeeded: HTTP 200 with `ok: true`."""
        return _succeeded(self.status, self.answer)


@dataclass(frozen=True)
class Reply:
    """Raw bytes the HTTP handler writes back."""

    status: int
    content: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(answer: Answer, content_type: str = JSON_TYPE) -> Reply:
    """Encode an API answer as an HTTP reply."""
    return Reply(answer.status, json.dumps(answer.body).encode(), content_type, answer.headers)


def text_reply(status: int, text: str) -> Reply:
    """A plain-text HTTP reply."""
    return Reply(status, text.encode(), TEXT_TYPE)


def media_type(content_type: str) -> tuple[str, str | None]:
    """The media type of a Content-Type header (form when empty) and its multipart boundary."""
    header = Message()
    header["Content-Type"] = content_type or FORM_TYPE
    boundary = header.get_param("boundary")
    return header.get_content_type(), boundary if isinstance(boundary, str) else None


def parse_json_object(body: bytes) -> JsonDict:
    """Decode a JSON object body."""
    decoded = json.loads(body)
    if not isinstance(decoded, dict):
        raise ValueError("the body is not a JSON object")
    return decoded


class Serials:
    """Counters that never repeat, one per kind."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def next(self, kind: str) -> int:
        """The next number of the counter `kind`."""
        self._last[kind] = self._last.get(kind, 0) + 1
        return self._last[kind]


class SlidingWindows:
    """Times of recent successful calls, one sliding window per key."""

    def __init__(self) -> None:
        self._times: dict[Hashable, deque[float]] = {}

    def full(self, key: Hashable, per_second: float, now: float) -> bool:
        """Whether the window of `key` already holds every call `per_second` allows."""
        allowed = max(1, math.floor(per_second))
        window = allowed / per_second
        recent = self._times.setdefault(key, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        return len(recent) >= allowed

    def note(self, key: Hashable, now: float) -> None:
        """Count one call in the window of `key`."""
        self._times.setdefault(key, deque()).append(now)

    def forget(self, which: Callable[[Hashable], bool] = lambda key: True) -> None:
        """Empty the windows whose key `which` picks (all by default)."""
        self._times = {key: times for key, times in self._times.items() if not which(key)}


class Faults:
    """Outages and scheduled failures; callers hold the fake's lock."""

    def __init__(self, outage_answer: Answer) -> None:
        self.down_until: float | None = None
        self.failures: dict[str, deque[Answer]] = {}
        self.lost_answers: dict[str, int] = {}
        self._outage_answer = outage_answer

    def outage(self, now: float) -> Answer | None:
        """A 500 while the fake is down."""
        if self.down_until is None or now >= self.down_until:
            return None
        return self._outage_answer

    def schedule(self, method: str, answer: Answer, times: int) -> None:
        """Answer the next `times` calls of `method` with `answer`."""
        self.failures.setdefault(method, deque()).extend([answer] * times)

    def scheduled_failure(self, method: str) -> Answer | None:
        """The next failure scheduled for `method`."""
        queued = self.failures.get(method)
        return queued.popleft() if queued else None

    def lose_answers(self, method: str, times: int) -> None:
        """Carry out the next `times` successful calls of `method`, but answer them as an
        outage would: the caller cannot tell that the call took effect."""
        self.lost_answers[method] = self.lost_answers.get(method, 0) + times

    def lost_answer(self, method: str) -> Answer | None:
        """The answer that replaces a successful call's own, if its answer is to be lost."""
        if not self.lost_answers.get(method):
            return None
        self.lost_answers[method] -= 1
        return self._outage_answer

    def note_success(self, method: str, scope: Any, now: float) -> None:
        """Count a successful call against the rate limits; none here."""


class FakeHttpServer:
    """A fake API served on 127.0.0.1 in a background thread, recording every call.

    Subclasses route requests in `serve`, answer API methods in `_answer`, start
    from a fresh state in `_clear_state` and make their faults in `_new_faults`.
    """

    thread_name = "fake-http"
    poll_interval = 0.05
    json_type = JSON_TYPE
    call_type: type[Call] = Call

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock if lock is not None else threading.RLock()
        self._calls: list[Call] = []
        self._faults = self._new_faults()
        self.delays: dict[str, float] = {}
        self._waiting: dict[str, int] = {}  # calls inside their delay, by method
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Self:
        """Serve on an OS-assigned port in a background thread."""
        if self._server is not None:
            return self
        self._server = _Server(self)
        self._before_serving()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._before_shutdown()
        server.shutdown()
        server.server_close()
        thread.join()
        self._server, self._thread = None, None

    def _before_serving(self) -> None:
        """Called once the port is known, before the first request."""

    def _before_shutdown(self) -> None:
        """Called before the server stops, to end anything that waits."""

    @property
    def root(self) -> str:
        """The server root, `http://127.0.0.1:<port>`."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        return self.root

    @property
    def calls(self) -> list[Call]:
        """Every API call received so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """Calls to `method` that succeeded."""
        return [call for call in self.attempts(method) if call.ok]

    def attempts(self, method: str) -> list[Call]:
        """Every call to `method`, whatever the answer."""
        return [call for call in self.calls if call.method == method]

    def slow(self, method: str, seconds: float | None) -> None:
        """Answer `method` only after `seconds` (None: at once again)."""
        with self._lock:
            if seconds is None:
                self.delays.pop(method, None)
            else:
                self.delays[method] = seconds

    def lose_answers(self, method: str, times: int = 1) -> None:
        """Carry out the next `times` calls of `method` but answer them with an error, as a
        gateway that timed out after the service acted: a retry that trusts the error
        does it twice."""
        with self._lock:
            self._faults.lose_answers(self._method_name(method), times)

    def down(self, seconds: float | None) -> None:
        """Answer every call with 500 for `seconds`; None ends the outage."""
        until = None if seconds is None else time.monotonic() + seconds
        with self._lock:
            self._faults.down_until = until

    def reset(self) -> None:
        """Forget calls, state and faults; keep the server running."""
        with self._lock:
            self._calls.clear()
            self._clear_state()
            self._faults = self._new_faults()

    def _clear_state(self) -> None:
        """Forget what the API methods stored."""

    def _new_faults(self) -> Faults:
        """Faults with no outage, failure or limit."""
        return Faults(Answer(500, {"ok": False}))

    def _method_name(self, method: str) -> str:
        """The name a call to `method` is recorded, delayed and limited under."""
        return method

    def _scope_of(self, params: JsonDict) -> Any:
        """What a call is about, for rate limits that count per scope."""
        return None

    def _answer(self, method: str, params: JsonDict, token: str, scope: Any, now: float) -> Answer:
        """The answer to one call, faults included; the lock is held."""
        raise NotImplementedError

    def answer_call(self, method: str, params: JsonDict, token: str) -> Answer:
        """Wait out any delay set for `method`, then answer the call."""
        name = self._method_name(method)
        delay = self.delays.get(name, 0.0)
        if delay:
            with self._lock:
                self._waiting[name] = self._waiting.get(name, 0) + 1
            try:
                time.sleep(delay)  # outside the lock: other calls go on meanwhile
                return self.handle_api(method, params, token)
            finally:
                with self._lock:
                    self._waiting[name] -= 1
        return self.handle_api(method, params, token)

    def in_flight(self, method: str) -> int:
        """Calls of `method` received and not yet answered (slowed down by `slow`)."""
        with self._lock:
            return self._waiting.get(self._method_name(method), 0)

    def handle_api(self, method: str, params: JsonDict, token: str) -> Answer:
        """Answer one API call, applying faults first, and record it."""
        with self._lock:
            now = time.monotonic()
            name = self._method_name(method)
            scope = self._scope_of(params)
            answer = self._answer(name, params, token, scope, now)
            if answer.ok:
                self._faults.note_success(name, scope, now)
            body = copy.deepcopy(answer.body)
            self._calls.append(self.call_type(name, params, answer.status, now, body))
            lost = self._faults.lost_answer(name) if answer.ok else None
            return lost or answer

    def json_reply(self, answer: Answer) -> Reply:
        """Encode an answer as this API encodes its JSON replies."""
        return json_reply(answer, self.json_type)

    def serve(self, method: str, path: str, headers: Message, body: bytes) -> Reply:
        """Answer one HTTP request."""
        return text_reply(404, "not_found")


class _Server(ThreadingHTTPServer):
    """The HTTP server that hands every request to one fake."""

    def __init__(self, fake: FakeHttpServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads a request, lets the fake answer it and writes the reply."""

    server: _Server

    def do_POST(self) -> None:
        """Answer a request; API clients POST, downloads GET."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._send(self.server.fake.serve(self.command, self.path, self.headers, body))

    do_GET = do_POST

    def _send(self, reply: Reply) -> None:
        """Write a reply with its length so the client can close cleanly."""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.content)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.content)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
