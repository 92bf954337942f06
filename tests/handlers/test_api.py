"""The intake API through a real ASGI client, against the real embedded server."""

import json
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
from starlette.testclient import TestClient

from handlers.api import MAX_BODY
from handlers.web import create_app
from jobs.runtime import Runtime
from tests.conftest import AGENT, FakeClock
from tests.support.ports import unused_port
from ticketcore.lifecycle import Status
from ticketcore.search.embedded import EmbeddedIndex
from ticketcore.store import Store

KEY = "k-" + "s3cret" * 4
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, api_keys=["other-key", KEY])) as client:
        yield client


def create(client: TestClient, **body: object) -> dict:
    response = client.post(
        "/api/v1/tickets", json={"text": "Lost gems", "player_id": "p1"} | body, headers=AUTH
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_the_ticket_with_its_number_and_first_message(client: TestClient) -> None:
    response = client.post(
        "/api/v1/tickets",
        json={
            "text": "My gems vanished\nafter the update",
            "player_id": "p-77",
            "email": "Gamer@Example.com",
            "language": "ru",
            "game": "dragons",
            "platform": "ios",
            "context": {"build": "5.1.2", "device": "iPhone 15"},
        },
        headers=AUTH,
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == "/api/v1/tickets/1"
    assert body["number"] == 1
    assert body["subject"] == "My gems vanished"
    assert (body["status"], body["priority"], body["channel"], body["queue"]) == (
        "new",
        "normal",
        "api",
        "dragons",
    )
    assert body["player"] == {
        "player_id": "p-77",
        "email": "gamer@example.com",
        "telegram_user_id": None,
        "telegram_chat_id": None,
        "telegram_username": None,
        "language": "ru",
        "display_name": None,
    }
    assert body["context"] == {
        "build": "5.1.2",
        "device": "iPhone 15",
        "game": "dragons",
        "platform": "ios",
    }
    [message] = body["messages"]
    assert (message["kind"], message["text"], message["channel"]) == (
        "player",
        "My gems vanished\nafter the update",
        "api",
    )
    # The player's words, written in by the game's key.
    assert message["author"] == {"kind": "player", "id": "id:p-77", "via": "api:api-key-2"}
    assert body["messages_before"] is None
    assert body["created_at"].endswith("Z") or "+00:00" in body["created_at"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing or wrong API key"),
        ({"Authorization": "Bearer nope"}, "missing or wrong API key"),
        ({"Authorization": KEY}, "missing or wrong API key"),
        ({"Authorization": "Basic " + KEY}, "missing or wrong API key"),
    ],
)
def test_requests_without_a_valid_key_are_refused(
    client: TestClient, headers: dict, reason: str
) -> None:
    for method, path in [
        ("POST", "/api/v1/tickets"),
        ("GET", "/api/v1/tickets"),
        ("GET", "/api/v1/tickets/1"),
    ]:
        response = client.request(
            method, path, json={"text": "x", "player_id": "p"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["error"] == reason
    assert client.get("/api/v1/tickets", headers=AUTH).json()["items"] == []


def test_an_api_without_keys_refuses_everything(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, api_keys=[])) as client:
        response = client.get("/api/v1/tickets", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    assert "API_KEYS" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"player_id": "p1"}, "text"),
        ({"text": "   ", "player_id": "p1"}, "text"),
        ({"text": "x" * 20_001, "player_id": "p1"}, "text"),
        ({"text": "hi"}, "body"),
        ({"text": "hi", "email": "not-an-email"}, "email"),
        ({"text": 42, "player_id": "p1"}, "text"),
        ({"text": "hi", "player_id": "p1", "priority": "urgent"}, "priority"),
        ({"text": "hi", "player_id": "p1", "context": {"blob": "x" * 20_000}}, "context"),
        ({"text": "hi", "player_id": ["p1"]}, "player_id"),
    ],
)
def test_invalid_bodies_get_422_naming_the_field(
    client: TestClient, body: dict, field: str
) -> None:
    response = client.post("/api/v1/tickets", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"].startswith(f"{field}:") or (
        field == "body" and "player_id or email" in error["error"]
    )
    assert any(f["field"] == field or field == "body" for f in error["fields"])


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"{not json", 400, "body is not valid JSON"),
        (b'{"text": "\xff\xfe", "player_id": "p"}', 400, "body is not valid JSON"),
        (b"[1, 2]", 422, "body must be a JSON object"),
        (b"", 400, "body is not valid JSON"),
    ],
)
def test_unreadable_bodies_are_refused_with_a_reason(
    client: TestClient, raw: bytes, status: int, reason: str
) -> None:
    response = client.post(
        "/api/v1/tickets", content=raw, headers=AUTH | {"Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["error"]) == (status, reason)


def test_a_body_over_a_megabyte_is_refused(client: TestClient) -> None:
    raw = json.dumps({"text": "x" * MAX_BODY, "player_id": "p"}).encode()
    response = client.post("/api/v1/tickets", content=raw, headers=AUTH)
    assert response.status_code == 413


def test_refused_requests_consume_no_ticket_number(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/v1/tickets", json={"text": "hi"}, headers=AUTH)
    client.post("/api/v1/tickets", json={"text": "", "player_id": "p"}, headers=AUTH)
    client.post("/api/v1/tickets", content=b"{", headers=AUTH)
    assert runtime.store.tickets.count_documents({}) == 0
    assert create(client)["number"] == 1


def test_get_shows_the_ticket_and_unknown_numbers_are_404(client: TestClient) -> None:
    created = create(client)
    shown = client.get("/api/v1/tickets/1", headers=AUTH)
    assert shown.status_code == 200
    assert shown.json() == created
    missing = client.get("/api/v1/tickets/999", headers=AUTH)
    assert (missing.status_code, missing.json()["error"]) == (404, "ticket #999 does not exist")
    assert client.get("/api/v1/tickets/abc", headers=AUTH).status_code == 404


def test_list_filters_and_pages_with_a_cursor(client: TestClient) -> None:
    for i in range(5):
        create(client, player_id=f"p{i}")
    client.patch("/api/v1/tickets/2", json={"status": "pending"}, headers=AUTH)
    first = client.get("/api/v1/tickets?limit=2", headers=AUTH).json()
    assert [t["number"] for t in first["items"]] == [5, 4]
    second = client.get(
        f"/api/v1/tickets?limit=2&cursor={first['next_cursor']}", headers=AUTH
    ).json()
    third = client.get(
        f"/api/v1/tickets?limit=2&cursor={second['next_cursor']}", headers=AUTH
    ).json()
    assert [t["number"] for t in second["items"] + third["items"]] == [3, 2, 1]
    assert third["next_cursor"] is None
    pending = client.get("/api/v1/tickets?status=pending", headers=AUTH).json()
    assert [t["number"] for t in pending["items"]] == [2]
    by_player = client.get("/api/v1/tickets?player_id=p3", headers=AUTH).json()
    assert [t["number"] for t in by_player["items"]] == [4]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=garbage", "cursor"),
        ("cursor=eyJ2IjogLTF9", "cursor"),
        ("status=sleeping", "status"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("limit=ten", "limit"),
    ],
)
def test_bad_list_parameters_get_400_naming_them(
    client: TestClient, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/tickets?{query}", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_follow_up_adds_to_the_ticket_and_reopens_it(client: TestClient, runtime: Runtime) -> None:
    create(client)
    runtime.service.reply(1, actor=AGENT, text="Fixed?")
    response = client.post("/api/v1/tickets/1/messages", json={"text": "No"}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "new"
    assert [(m["kind"], m["text"]) for m in body["messages"]] == [
        ("player", "Lost gems"),
        ("reply", "Fixed?"),
        ("player", "No"),
    ]


def test_follow_up_on_a_closed_ticket_opens_a_linked_one(client: TestClient) -> None:
    create(client)
    client.patch("/api/v1/tickets/1", json={"status": "closed"}, headers=AUTH)
    response = client.post("/api/v1/tickets/1/messages", json={"text": "again"}, headers=AUTH)
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["reopened_from"]) == (2, 1)


def test_follow_up_errors(client: TestClient) -> None:
    assert (
        client.post("/api/v1/tickets/5/messages", json={"text": "x"}, headers=AUTH).status_code
        == 404
    )
    create(client)
    response = client.post(
        "/api/v1/tickets/1/messages", json={"text": "x", "html": "<b>"}, headers=AUTH
    )
    assert response.status_code == 422


def test_patch_changes_fields_in_one_step(client: TestClient, runtime: Runtime) -> None:
    create(client)
    response = client.patch(
        "/api/v1/tickets/1",
        json={
            "status": "pending",
            "priority": "urgent",
            "assignee": "U0LEAD",
            "tags": ["Refund", "vip"],
            "queue": "ru",
        },
        headers=AUTH,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["priority"], body["assignee"], body["tags"], body["queue"]) == (
        "pending",
        "urgent",
        "U0LEAD",
        ["refund", "vip"],
        "ru",
    )
    last = runtime.service.history(runtime.service.get(1)).items[-1]
    assert last.actor.kind == "integration" and last.actor.id == "api-key-2"
    assert {c.field for c in last.changes} == {"status", "priority", "assignee", "tags", "queue"}
    unassigned = client.patch("/api/v1/tickets/1", json={"assignee": None}, headers=AUTH).json()
    assert unassigned["assignee"] is None


def test_an_illegal_status_move_answers_409_naming_the_allowed_ones(
    client: TestClient, runtime: Runtime
) -> None:
    create(client)
    client.patch("/api/v1/tickets/1", json={"status": "closed"}, headers=AUTH)
    response = client.patch(
        "/api/v1/tickets/1", json={"status": "new", "priority": "high"}, headers=AUTH
    )
    assert response.status_code == 409
    assert response.json()["allowed"] == []
    assert "cannot move from closed to new" in response.json()["error"]
    assert runtime.service.get(1).priority == "normal", "nothing of the refused change was written"


def test_patch_rejects_unknown_statuses_and_fields(client: TestClient) -> None:
    create(client)
    bad_status = client.patch("/api/v1/tickets/1", json={"status": "done"}, headers=AUTH)
    assert (bad_status.status_code, bad_status.json()["fields"][0]["field"]) == (422, "status")
    unknown = client.patch("/api/v1/tickets/1", json={"colour": "red"}, headers=AUTH)
    assert (unknown.status_code, unknown.json()["fields"][0]["field"]) == (422, "colour")


def test_long_conversations_page_back_with_messages_before(
    client: TestClient, runtime: Runtime
) -> None:
    create(client)
    for i in range(130):
        runtime.service.add_player_message_to(1, text=f"m{i}", channel="api")
    latest = client.get("/api/v1/tickets/1", headers=AUTH).json()
    assert len(latest["messages"]) == 100
    assert latest["messages"][-1]["text"] == "m129"
    older = client.get(
        f"/api/v1/tickets/1?messages_before={latest['messages_before']}", headers=AUTH
    ).json()
    assert [m["text"] for m in older["messages"]] == ["Lost gems"] + [f"m{i}" for i in range(30)]
    assert older["messages_before"] is None
    assert client.get("/api/v1/tickets/1?messages_before=%%%", headers=AUTH).status_code == 400


def test_healthz_reports_store_and_queue(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failing": []}


def test_metrics_count_tickets_by_status_and_owed_effects(client: TestClient) -> None:
    create(client)
    create(client, player_id="p2")
    client.patch("/api/v1/tickets/2", json={"status": "pending"}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'helpdesk_tickets{status="new"} 1' in text
    assert 'helpdesk_tickets{status="pending"} 1' in text
    assert 'helpdesk_outbox_effects{state="dead"} 0' in text
    assert "helpdesk_queue_jobs{queue=" in text and "helpdesk_failed_jobs{queue=" in text


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    assert client.get("/nope").json()["error"] == "no route for GET /nope"
    assert client.delete("/api/v1/tickets/1", headers=AUTH).status_code == 405


def test_tickets_status_values_cover_the_lifecycle() -> None:
    assert {s.value for s in Status} >= {"new", "closed"}


def test_stats_report_for_a_period_and_clear_refusals(client: TestClient, clock: FakeClock) -> None:
    create(client, text="Lost gems", player_id="p1")
    create(client, text="Game crashes", player_id="p2")
    clock.advance(minutes=5)  # a period ends now, exclusive

    everything = client.get("/api/v1/stats", params={"since": "7d"}, headers=AUTH)
    by_telegram = client.get("/api/v1/stats", params={"channel": "telegram"}, headers=AUTH)

    assert everything.status_code == 200
    assert everything.json()["created"] == 2
    assert everything.json()["backlog"]["by_status"]["new"] == 2
    assert by_telegram.json()["created"] == 0
    bad_period = client.get("/api/v1/stats", params={"since": "fortnight"}, headers=AUTH)
    assert bad_period.status_code == 400 and "fortnight" in bad_period.text
    unknown = client.get("/api/v1/stats", params={"sinse": "7d"}, headers=AUTH)
    assert unknown.status_code == 400 and "sinse" in unknown.text
    assert client.get("/api/v1/stats").status_code == 401


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a"})
    made = client.get("/healthz")
    insane = client.get("/healthz", headers={"X-Request-Id": "<script>" * 20})
    assert given.headers["x-request-id"] == "lb-7f3a"
    assert len(made.headers["x-request-id"]) == 32
    assert insane.headers["x-request-id"] != "<script>" * 20


def test_healthz_names_a_lost_search_index_and_it_degrades(
    runtime: Runtime, tmp_path: Path, clock: FakeClock
) -> None:
    runtime.search = EmbeddedIndex(tmp_path / "search")
    with TestClient(create_app(runtime, api_keys=[KEY])) as client:
        fine = client.get("/healthz").json()

        class Unreachable:
            def health(self) -> str:
                raise ConnectionError("refused")

        runtime.search = Unreachable()  # type: ignore[assignment]
        clock.advance(seconds=5)  # past the window of the last probe
        lost = client.get("/healthz")
    assert fine == {"status": "ok", "failing": []}
    assert lost.status_code == 200  # tickets still come in and go out
    assert lost.json() == {"status": "degraded", "failing": ["search"]}


def test_a_request_sent_again_with_its_idempotency_key_stores_nothing_twice(
    client: TestClient,
) -> None:
    """A client whose connection broke before the answer sends again; with the same
    Idempotency-Key it gets the first request's ticket, and nothing is stored twice."""
    headers = AUTH | {"Idempotency-Key": "7f6c1c2e-0b7a-4c55-9d1e-0c2b1b7b9a10"}
    body = {"text": "Lost gems", "player_id": "p1"}
    first = client.post("/api/v1/tickets", json=body, headers=headers)
    again = client.post("/api/v1/tickets", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["number"] == first.json()["number"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    number = first.json()["number"]

    follow = AUTH | {"Idempotency-Key": "follow-up-1"}
    path = f"/api/v1/tickets/{number}/messages"
    answers = [client.post(path, json={"text": "Any news?"}, headers=follow) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true"]
    shown = client.get(f"/api/v1/tickets/{number}", headers=AUTH).json()
    assert [m["text"] for m in shown["messages"]] == ["Lost gems", "Any news?"]
    assert "inbound_ids" not in shown, "bookkeeping stays inside"

    # Without a key, every request is a request of its own.
    for _ in range(2):
        client.post(path, json={"text": "Hello?"}, headers=AUTH)
    shown = client.get(f"/api/v1/tickets/{number}", headers=AUTH).json()
    assert [m["text"] for m in shown["messages"]][-2:] == ["Hello?", "Hello?"]


def test_idempotency_keys_belong_to_the_api_key_that_sent_them(client: TestClient) -> None:
    key = {"Idempotency-Key": "order-1"}
    body = {"text": "Lost gems", "player_id": "p1"}
    mine = client.post("/api/v1/tickets", json=body, headers=AUTH | key)
    other = {"Authorization": "Bearer other-key"} | key
    theirs = client.post("/api/v1/tickets", json=body, headers=other)
    assert mine.json()["number"] != theirs.json()["number"]


@pytest.mark.parametrize("value", ["", "x" * 256, "naïve", "two words"])
def test_a_malformed_idempotency_key_is_refused_and_stores_nothing(
    client: TestClient, runtime: Runtime, value: str
) -> None:
    headers = AUTH | {"Idempotency-Key": value.encode()}
    response = client.post(
        "/api/v1/tickets", json={"text": "Lost gems", "player_id": "p1"}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Idempotency-Key: 1 to 255 visible ASCII")
    assert runtime.store.tickets.count_documents({}) == 0


def test_a_store_out_of_reach_is_a_503_to_send_again(client: TestClient, runtime: Runtime) -> None:
    working = runtime.service.store
    nowhere: pymongo.MongoClient = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{unused_port()}", serverSelectionTimeoutMS=200
    )
    runtime.service.store = Store(nowhere["helpdesk"])
    try:
        response = client.post(
            "/api/v1/tickets", json={"text": "Lost gems", "player_id": "p1"}, headers=AUTH
        )
    finally:
        runtime.service.store = working
        nowhere.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"].startswith("the helpdesk's store is unavailable")
    assert create(client)["number"] == 1, "nothing was written, no number spent"
