"""API keys carry a name and scopes: each route asks for its scope, the name is the actor."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from handlers.api_keys import ALL_SCOPES, ApiKey, Scope, parse_api_keys
from handlers.web import create_app
from helpdesk.keys import local_api_keys
from helpdesk.settings import Settings, StartupError
from jobs.runtime import Runtime
from tests.conftest import FakeClock
from ticketcore.lifecycle import Status
from ticketcore.links import deep_link, make_token

GAME_KEY = "game-key-0123456789abcdef"
DASHBOARD_KEY = "dashboard-key-0123456789abc"
SUPPORT_KEY = "support-tools-key-0123456789"
NEW_TICKET = {"text": "Lost gems", "player_id": "p1"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def link_maker(clock: FakeClock) -> Any:
    def make(player_id: str, days: int) -> dict[str, Any]:
        token = make_token(player_id, secret="s" * 32, now=clock(), ttl=timedelta(days=days))
        return {"url": deep_link("studio_support_bot", token)}

    return make


@pytest.fixture
def client(runtime: Runtime, clock: FakeClock) -> Iterator[TestClient]:
    keys = parse_api_keys(
        f"game:intake,links:{GAME_KEY};dashboard:read:{DASHBOARD_KEY};"
        f"support-tools:manage,read:{SUPPORT_KEY}"
    )
    app = create_app(runtime, api_keys=keys, link_maker=link_maker(clock))
    with TestClient(app) as client:
        yield client


def test_each_route_answers_only_keys_with_its_scope(client: TestClient) -> None:
    link = {"player_id": "p1"}
    created = client.post("/api/v1/tickets", json=NEW_TICKET, headers=auth(GAME_KEY))
    assert created.status_code == 201
    game = [
        ("POST", "/api/v1/tickets/1/messages", {"text": "still lost"}, 200),
        ("POST", "/api/v1/player-links", link, 201),
        ("GET", "/api/v1/tickets", None, 403),
        ("GET", "/api/v1/tickets/1", None, 403),
        ("GET", "/api/v1/stats", None, 403),
        ("PATCH", "/api/v1/tickets/1", {"status": "closed"}, 403),
    ]
    dashboard = [
        ("GET", "/api/v1/tickets", None, 200),
        ("GET", "/api/v1/tickets/1", None, 200),
        ("GET", "/api/v1/stats", None, 200),
        ("POST", "/api/v1/tickets", NEW_TICKET, 403),
        ("POST", "/api/v1/tickets/1/messages", {"text": "as anyone"}, 403),
        ("POST", "/api/v1/player-links", link, 403),
        ("PATCH", "/api/v1/tickets/1", {"status": "closed"}, 403),
    ]
    for key, expected in ((GAME_KEY, game), (DASHBOARD_KEY, dashboard)):
        for method, path, body, status in expected:
            answer = client.request(method, path, json=body, headers=auth(key))
            assert answer.status_code == status, (key, method, path, answer.text)
            if status == 403:
                assert "lacks the scope" in answer.json()["error"]
    tickets = client.get("/api/v1/tickets", headers=auth(DASHBOARD_KEY)).json()["items"]
    assert [(t["number"], t["status"]) for t in tickets] == [(1, "new")]  # no refused write


def test_a_refusal_names_the_key_and_the_scope_it_lacks(client: TestClient) -> None:
    refused = client.post(
        "/api/v1/player-links", json={"player_id": "p1"}, headers=auth(DASHBOARD_KEY)
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "the key 'dashboard' lacks the scope 'links'"


def test_a_missing_or_unknown_key_is_a_401(client: TestClient) -> None:
    assert client.get("/api/v1/tickets").status_code == 401
    assert (
        client.get("/api/v1/tickets", headers=auth("game-key-0123456789abcdeX")).status_code == 401
    )
    assert client.get("/api/v1/tickets", headers=auth(GAME_KEY[:-1])).status_code == 401
    assert client.get("/api/v1/tickets", headers={"Authorization": "Bearer"}).status_code == 401


def test_the_keys_name_is_the_actor_in_the_history(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/v1/tickets", json=NEW_TICKET, headers=auth(GAME_KEY))
    client.post("/api/v1/tickets/1/messages", json={"text": "still"}, headers=auth(GAME_KEY))
    changed = client.patch(
        "/api/v1/tickets/1", json={"status": "pending"}, headers=auth(SUPPORT_KEY)
    )
    assert changed.status_code == 200

    ticket = runtime.service.get(1)
    entries = runtime.service.history(ticket).items
    actors = {(e.event, e.actor.kind.value, e.actor.id, e.actor.via) for e in entries}
    # The player is the author of their words; the key is what carried them in.
    assert ("ticket.created", "player", "id:p1", "api:game") in actors
    assert ("message.received", "player", "id:p1", "api:game") in actors
    assert ("ticket.status_changed", "integration", "support-tools", "api") in actors
    assert ticket.player.player_id == "p1" and ticket.status is Status.PENDING


def test_a_follow_up_on_a_closed_ticket_opens_the_new_one_by_the_key(
    client: TestClient, runtime: Runtime, clock: FakeClock
) -> None:
    client.post("/api/v1/tickets", json=NEW_TICKET, headers=auth(GAME_KEY))
    client.patch("/api/v1/tickets/1", json={"status": "closed"}, headers=auth(SUPPORT_KEY))
    clock.advance(minutes=1)
    again = client.post("/api/v1/tickets/1/messages", json={"text": "x"}, headers=auth(GAME_KEY))
    assert again.status_code == 201
    [opening] = again.json()["messages"]
    assert opening["author"] == {"kind": "player", "id": "id:p1", "via": "api:game"}


def test_the_unnamed_form_still_works_with_every_scope_and_warns(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(api_keys=f"{GAME_KEY}, {DASHBOARD_KEY}")
    with caplog.at_level(logging.WARNING, logger="helpdesk"):
        keys = local_api_keys(settings, tmp_path, embedded=False)
    assert [(k.name, k.scopes) for k in keys] == [
        ("api-key-1", ALL_SCOPES),
        ("api-key-2", ALL_SCOPES),
    ]
    assert any("name:scope,scope:KEY" in r.getMessage() for r in caplog.records)
    with TestClient(create_app(runtime, api_keys=keys)) as client:
        created = client.post("/api/v1/tickets", json=NEW_TICKET, headers=auth(DASHBOARD_KEY))
        changed = client.patch(
            "/api/v1/tickets/1", json={"status": "pending"}, headers=auth(DASHBOARD_KEY)
        )
        read = client.get("/api/v1/tickets/1", headers=auth(GAME_KEY))
    assert (created.status_code, changed.status_code, read.status_code) == (201, 200, 200)
    assert read.json()["messages"][0]["author"]["via"] == "api:api-key-2"


def test_the_local_key_of_a_one_machine_install_has_every_scope(tmp_path: Path) -> None:
    [key] = local_api_keys(Settings(), tmp_path, embedded=True)
    assert key.scopes == ALL_SCOPES and key.name == "local"
    assert key.secret == (tmp_path / "api-key").read_text().strip()


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (f"game:intake,delete:{GAME_KEY}", "unknown scope 'delete'"),
        (f"game:intake;dashboard:read:{DASHBOARD_KEY}", "entry 1 is not name:scopes:KEY"),
        (f"game::{GAME_KEY}", "unknown scope ''"),
        (f":intake:{GAME_KEY}", "entry 1 has no usable name"),
        ("game:intake:", "shorter than 16 characters"),
        ("game:intake:short-key", "shorter than 16 characters"),
        ("short-key", "shorter than 16 characters"),
        (f"game:intake:{GAME_KEY};game:read:{DASHBOARD_KEY}", "'game' is given to more"),
        (f"game:intake:{GAME_KEY};dash:read:{GAME_KEY}", "listed more than once"),
    ],
)
def test_a_malformed_setting_stops_the_start_and_names_it(
    setting: str, reason: str, tmp_path: Path
) -> None:
    with pytest.raises(StartupError) as refused:
        local_api_keys(Settings(api_keys=setting), tmp_path, embedded=True)
    assert refused.value.message.startswith("API_KEYS: ")
    assert reason in refused.value.message


def test_keys_keep_their_secret_out_of_their_repr() -> None:
    key = ApiKey("game", frozenset({Scope.INTAKE}), GAME_KEY)
    assert GAME_KEY not in repr(key) and "game" in repr(key)
