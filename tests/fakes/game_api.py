"""A fake game admin API served over real HTTP: `GET /api/players/<player_id>`."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes import http
from tests.fakes.http import JSON_TYPE, Answer, FakeHttpServer, JsonDict, Reply

DEFAULT_TOKEN = "game-admin-token"
PLAYERS = "players"  # the name lookups are recorded, delayed and failed under
PLAYER_PATH = re.compile(r"/api/players/(?P<player_id>[^/]+)")
NOT_FOUND: JsonDict = {"error": "not found"}
MALFORMED = b'{"level": 12, "vip": tru'


@dataclass(frozen=True)
class GameAnswer(Answer):
    """An answer whose body is JSON, or exactly `content` when set (broken JSON, a list)."""

    content: bytes | None = None

    @property
    def ok(self) -> bool:
        """The game says yes with a plain 200."""
        return self.status == 200


class Call(http.Call):
    """One player lookup the fake received and how it was answered."""

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def player_id(self) -> str:
        """The player id, URL-unquoted."""
        return str(self.params["player_id"])

    @property
    def path(self) -> str:
        """The request path exactly as sent, quoting included."""
        return str(self.params["path"])

    @property
    def authorization(self) -> str | None:
        """The Authorization header as sent, if any."""
        value = self.params.get("authorization")
        return None if value is None else str(value)


def _error(status: int, retry_after: int | None = None) -> GameAnswer:
    """An error answer in the game's `{"error": ...}` shape."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return GameAnswer(status, {"error": HTTPStatus(status).phrase.lower()}, headers)


def _bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header, or ""."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class FakeGameApi(FakeHttpServer):
    """A fake game admin API on 127.0.0.1; give `players_url` to the lookup as its template.

    Accounts are set per player with `set_player`; faults (`fail_next`, `garble_next`,
    `answer_next`, `slow(PLAYERS, seconds)`, `down`) apply to the next lookups.
    """

    thread_name = "fake-game-api"
    poll_interval = 0.01
    call_type = Call

    def __init__(self, token: str | None = DEFAULT_TOKEN) -> None:
        self.token = token  # None: no token asked for
        self._players: dict[str, JsonDict] = {}
        super().__init__()

    @property
    def players_url(self) -> str:
        """The lookup URL template, with `{player_id}` to fill in."""
        return f"{self.url}/api/players/{{player_id}}"

    def set_player(self, player_id: str, account: JsonDict) -> None:
        """Answer lookups of `player_id` with `account`."""
        with self._lock:
            self._players[player_id] = copy.deepcopy(account)

    def remove_player(self, player_id: str) -> None:
        """Answer lookups of `player_id` with 404 from now on."""
        with self._lock:
            self._players.pop(player_id, None)

    def lookups(self, player_id: str | None = None) -> list[Call]:
        """Every lookup received, of one player or of all, whatever the answer."""
        calls = [call for call in self.attempts(PLAYERS) if isinstance(call, Call)]
        return [call for call in calls if player_id is None or call.player_id == player_id]

    def fail_next(self, status: int, times: int = 1, *, retry_after: int | None = None) -> None:
        """Answer the next `times` lookups with HTTP `status`, with `Retry-After` when given."""
        self._schedule(_error(status, retry_after), times)

    def garble_next(self, times: int = 1) -> None:
        """Answer the next `times` lookups with 200 and a body that is not JSON."""
        self._schedule(GameAnswer(200, {}, content=MALFORMED), times)

    def answer_next(self, body: Any, times: int = 1) -> None:
        """Answer the next `times` lookups with 200 and `body` as JSON, whatever its type."""
        self._schedule(GameAnswer(200, {}, content=json.dumps(body).encode()), times)

    def _schedule(self, answer: GameAnswer, times: int) -> None:
        with self._lock:
            self._faults.schedule(PLAYERS, answer, times)

    def _clear_state(self) -> None:
        """Forget every account."""
        self._players.clear()

    def _new_faults(self) -> http.Faults:
        """Faults with no outage or failure; an outage answers 500."""
        return http.Faults(_error(500))

    def _answer(self, method: str, params: JsonDict, token: str, scope: Any, now: float) -> Answer:
        """Outage, bad token, scheduled fault, unknown player, or the account."""
        if (outage := self._faults.outage(now)) is not None:
            return outage
        if self.token is not None and token != self.token:
            return _error(401)
        fault = self._faults.scheduled_failure(PLAYERS)
        if fault is not None:
            return fault
        account = self._players.get(params["player_id"])
        if account is None:
            return GameAnswer(404, dict(NOT_FOUND))
        return GameAnswer(200, copy.deepcopy(account))

    def serve(self, method: str, path: str, headers: Message, body: bytes) -> Reply:
        """Answer `GET /api/players/<player_id>`; anything else is not found."""
        route = PLAYER_PATH.fullmatch(urlsplit(path).path)
        if method != "GET" or route is None:
            return self.json_reply(GameAnswer(404, dict(NOT_FOUND)))
        authorization = headers.get("Authorization")
        params = {
            "player_id": unquote(route["player_id"]),
            "path": path,
            "authorization": authorization,
        }
        return self._reply(self.answer_call(PLAYERS, params, _bearer(authorization)))

    def _reply(self, answer: Answer) -> Reply:
        """The exact content when the answer has one, else its JSON body."""
        if isinstance(answer, GameAnswer) and answer.content is not None:
            return Reply(answer.status, answer.content, JSON_TYPE, answer.headers)
        return self.json_reply(answer)
