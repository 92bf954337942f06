"""SLA clocks on real tickets: set at opening, moved by each change, alerts raised once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue

from tests.conftest import AGENT, PLAYER, FakeClock
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Priority
from ticketcore.service import TicketService
from ticketcore.sla import SlaConfig
from ticketcore.store import Store

CONFIG = SlaConfig.model_validate(
    {
        "warn_at": 0.8,
        "policies": [
            {
                "name": "urgent",
                "priority": "urgent",
                "first_response": "30m",
                "resolution": "4h",
                "business_hours": False,
            },
            {
                "name": "default",
                "first_response": "4h",
                "next_response": "8h",
                "resolution": "3d",
                "business_hours": False,
            },
        ],
    }
)


@pytest.fixture
def sla_service(store: Store, clock: FakeClock, queue: Queue) -> TicketService:
    return TicketService(store, clock, sla=lambda: CONFIG)


def events(service: TicketService, number: int) -> list[str]:
    return [e.event for e in service.history(service.get(number)).items]


def test_an_urgent_ticket_warns_then_breaches_once(
    sla_service: TicketService, clock: FakeClock
) -> None:
    ticket = sla_service.open_ticket(
        player=PLAYER, channel=Channel.API, text="Can't pay", priority=Priority.URGENT
    )
    stored = sla_service.get(ticket.number)
    assert ticket.sla == stored.sla
    assert stored.sla is not None and stored.sla["policy"] == "urgent"
    first_due = stored.sla["targets"]["first_response"]["due_at"]
    assert first_due == clock() + timedelta(minutes=30)
    assert sla_service.raise_sla_alerts() == []
    clock.advance(minutes=25)
    assert sla_service.raise_sla_alerts() == [(ticket.number, "first_response", "warning")]
    assert sla_service.raise_sla_alerts() == []
    clock.advance(minutes=6)
    assert sla_service.raise_sla_alerts() == [(ticket.number, "first_response", "breached")]
    clock.advance(hours=5)
    raised = sla_service.raise_sla_alerts()
    assert raised == [(ticket.number, "resolution", "breached")]  # late: no warning first
    assert events(sla_service, ticket.number).count("sla.breached") == 2
    assert sla_service.raise_sla_alerts() == []


def test_a_reply_meets_the_first_response_and_waiting_pauses_the_clock(
    sla_service: TicketService, clock: FakeClock
) -> None:
    number = sla_service.open_ticket(player=PLAYER, channel=Channel.API, text="Lost gems").number
    clock.advance(hours=1)
    sla_service.reply(number, actor=AGENT, text="Which server?", status=Status.WAITING)
    sla = sla_service.get(number).sla
    assert sla is not None
    assert sla["targets"]["first_response"]["met_at"] == clock()
    assert sla["paused_since"] == clock()
    assert sla_service.get(number).sla_next_check is None  # nothing runs while paused
    clock.advance(days=5)  # a long wait for the player does not breach anything
    assert sla_service.raise_sla_alerts() == []
    sla_service.add_player_message_to(number, text="EU-3", channel=Channel.API)
    resumed = sla_service.get(number).sla
    assert resumed is not None and resumed["paused_since"] is None
    due = resumed["targets"]["resolution"]["due_at"]
    assert due > clock() + timedelta(days=2)  # the five waiting days did not count
    assert resumed["targets"]["next_response"]["due_at"] == clock() + timedelta(hours=8)


def test_raising_the_priority_makes_the_ticket_due_sooner(
    sla_service: TicketService, clock: FakeClock
) -> None:
    number = sla_service.open_ticket(player=PLAYER, channel=Channel.API, text="Crash").number
    clock.advance(minutes=20)
    sla_service.set_priority(number, Priority.URGENT, actor=AGENT)
    sla = sla_service.get(number).sla
    assert sla is not None and sla["policy"] == "urgent"
    started = clock() - timedelta(minutes=20)
    assert sla["targets"]["first_response"]["due_at"] == started + timedelta(minutes=30)
    clock.advance(minutes=11)
    assert sla_service.raise_sla_alerts() == [(number, "first_response", "breached")]
