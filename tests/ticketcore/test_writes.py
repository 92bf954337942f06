"""The pure half of a write: deciding the new state, its history and its update."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import AGENT, PLAYER
from ticketcore.errors import InvalidTransition
from ticketcore.events import Event
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Message, MessageKind, Priority, Ticket
from ticketcore.writes import (
    Action,
    is_worth_keeping,
    outcome,
    player_message_updates,
    reply_updates,
    status_updates,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ticket(**fields: object) -> Ticket:
    base = dict(
        id="6b0000000000000000000001",
        number=12,
        subject="Lost gems",
        channel=Channel.TELEGRAM,
        player=PLAYER,
        status=Status.NEW,
        created_at=T0,
        updated_at=T0,
        message_count=1,
        version=3,
    )
    return Ticket.model_validate(base | fields)


def test_outcome_bumps_the_version_and_carries_history_and_effects_in_one_update() -> None:
    current = ticket(status=Status.ANSWERED, assignee="U1")
    now = T0 + timedelta(hours=1)
    message = Message(kind=MessageKind.PLAYER, channel=Channel.TELEGRAM, text="still broken")
    action = Action(
        Event.MESSAGE_RECEIVED, AGENT, now, player_message_updates(current, now), message
    )
    result = outcome(current, action, ["slack.card"])
    assert result.ticket.status is Status.INPROGRESS
    assert (result.ticket.version, result.ticket.message_count) == (4, 2)
    assert result.entry.seq == 4
    assert [(c.field, c.old, c.new) for c in result.entry.changes] == [
        ("status", "answered", "inprogress")
    ]
    assert result.update["$set"] == {
        "status": "inprogress",
        "resolved_at": None,
        "last_player_message_at": now,
        "message_count": 2,
        "active": True,
        "updated_at": now,
        "version": 4,
    }
    pushed = result.update["$push"]["outbox"]["$each"]
    assert [r["kind"] for r in pushed] == ["history.store", "slack.card"]
    assert result.keys == tuple(r["key"] for r in pushed)
    assert pushed[0]["payload"]["entry"]["message"]["text"] == "still broken"


def test_closing_clears_the_active_flag() -> None:
    current = ticket()
    result = outcome(
        current, Action(Event.UPDATED, AGENT, T0, status_updates(current, Status.CLOSED, T0)), []
    )
    assert result.update["$set"]["active"] is False
    assert result.ticket.closed_at == result.ticket.resolved_at == T0


def test_staying_in_the_same_status_is_no_change() -> None:
    current = ticket(status=Status.PENDING)
    assert status_updates(current, Status.PENDING, T0) == {}
    result = outcome(current, Action(Event.UPDATED, AGENT, T0, {"priority": Priority.NORMAL}), [])
    assert not is_worth_keeping(result.entry)


def test_an_illegal_move_is_refused_before_anything_is_written() -> None:
    with pytest.raises(InvalidTransition):
        status_updates(ticket(status=Status.CLOSED), Status.NEW, T0)


def test_first_response_is_kept_from_the_first_reply() -> None:
    first = T0 + timedelta(minutes=3)
    current = ticket(status=Status.ANSWERED, first_response_at=first)
    updates = reply_updates(current, Status.WAITING, T0 + timedelta(hours=2))
    assert updates["first_response_at"] == first
    assert updates["last_agent_reply_at"] == T0 + timedelta(hours=2)
