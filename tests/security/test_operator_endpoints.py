"""/healthz and /metrics: short answers, at most one round of store reads per window,
and /metrics behind METRICS_TOKEN when it is set."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator

import pymongo
import pytest
from pymongo import monitoring
from starlette.testclient import TestClient

from handlers.health import HEALTH_SECONDS, METRICS_SECONDS
from handlers.web import create_app
from jobs.runtime import Runtime
from tests.conftest import FakeClock
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService
from ticketcore.store import Store

TOKEN = "metrics-token-0123456789"


class CommandCount(monitoring.CommandListener):
    """The commands a client sent to the store, by name."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def total(self) -> int:
        return sum(self.sent.values())


@pytest.fixture
def commands() -> CommandCount:
    return CommandCount()


@pytest.fixture
def watched(runtime: Runtime, mongo_uri: str, commands: CommandCount) -> Iterator[Runtime]:
    """The runtime, reading the same database through a client that counts its commands."""
    client: pymongo.MongoClient = pymongo.MongoClient(
        mongo_uri, tz_aware=True, event_listeners=[commands]
    )
    store = Store.connect(client, runtime.store.db.name)
    service = TicketService(store, runtime.clock)
    yield dataclasses.replace(runtime, store=store, service=service)
    client.close()


def open_ticket(runtime: Runtime, player_id: str) -> None:
    player = Player(player_id=player_id)
    runtime.service.open_ticket(player=player, channel=Channel.API, text="Lost gems")


def test_healthz_says_only_the_status_and_what_fails(runtime: Runtime) -> None:
    open_ticket(runtime, "p1")  # an effect owed: no counts show
    with TestClient(create_app(runtime, api_keys=[])) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "failing": []}


def test_an_unreachable_store_is_unhealthy_and_named_without_its_error(
    runtime: Runtime,
) -> None:
    nowhere: pymongo.MongoClient = pymongo.MongoClient(
        "mongodb://127.0.0.1:9", serverSelectionTimeoutMS=100, connectTimeoutMS=100
    )
    lost = dataclasses.replace(runtime, store=Store.connect(nowhere, "helpdesk"))
    try:
        with TestClient(create_app(lost, api_keys=[])) as client:
            answer = client.get("/healthz")
    finally:
        nowhere.close()
    assert answer.status_code == 503
    assert answer.json() == {"status": "unhealthy", "failing": ["store"]}


def test_a_flood_of_healthz_costs_one_probe_per_window(
    watched: Runtime, commands: CommandCount, clock: FakeClock
) -> None:
    with TestClient(create_app(watched, api_keys=[])) as client:
        for _ in range(25):
            assert client.get("/healthz").status_code == 200
        within = commands.sent["ping"]
        clock.advance(seconds=HEALTH_SECONDS)
        client.get("/healthz")
    assert within == 1
    assert commands.sent["ping"] == 2


def test_a_burst_of_scrapes_reads_the_store_once_per_window(
    runtime: Runtime, watched: Runtime, commands: CommandCount, clock: FakeClock
) -> None:
    open_ticket(runtime, "p1")
    with TestClient(create_app(watched, api_keys=[])) as client:
        first = client.get("/metrics").text
        one_round = commands.total()
        open_ticket(runtime, "p2")
        burst = [client.get("/metrics").text for _ in range(20)]
        after_burst = commands.total()
        clock.advance(seconds=METRICS_SECONDS)
        later = client.get("/metrics").text
    assert one_round > 0 and after_burst == one_round
    assert 'helpdesk_tickets{status="new"} 1' in first
    assert all('helpdesk_tickets{status="new"} 1' in text for text in burst)
    assert 'helpdesk_tickets{status="new"} 2' in later
    assert commands.total() == 2 * one_round


def test_metrics_token_is_asked_for_when_set(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, api_keys=[], metrics_token=TOKEN)) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        other_scheme = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert [missing.status_code, wrong.status_code, other_scheme.status_code] == [401] * 3
    assert "METRICS_TOKEN" in missing.json()["hint"]
    assert "helpdesk_tickets" not in missing.text
    assert right.status_code == 200 and "helpdesk_tickets" in right.text
