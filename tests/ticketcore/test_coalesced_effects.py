"""A coalesced effect (it acts on the ticket as it is when carried out) is owed once
however many changes wait for it, and never relied on once a worker has claimed it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AGENT, PLAYER, FakeClock
from ticketcore.effects import EVERY_EVENT, Subscriptions
from ticketcore.models import Channel
from ticketcore.outbox import Outbox
from ticketcore.service import TicketService
from ticketcore.store import Document, Store

INDEX = "index.ticket"


@pytest.fixture
def service(store: Store, clock: FakeClock) -> TicketService:
    subscriptions = Subscriptions({INDEX: {EVERY_EVENT}}, coalesced={INDEX})
    return TicketService(store, clock, subscriptions=subscriptions, outbox=Outbox(store))


def owed(service: TicketService, number: int) -> list[Document]:
    doc = service.store.tickets.find_one({"number": number})
    assert doc is not None
    return [record for record in doc["outbox"] if record["kind"] == INDEX]


def ticket_id(service: TicketService, number: int) -> str:
    doc = service.store.tickets.find_one({"number": number}, {"_id": 1})
    assert doc is not None
    return str(doc["_id"])


def test_changes_while_one_is_waiting_owe_no_more_of_it(service: TicketService) -> None:
    number = service.open_ticket(player=PLAYER, channel=Channel.API, text="help").number
    first = owed(service, number)

    service.add_note(number, actor=AGENT, text="checked the logs")
    service.add_player_message(player=PLAYER, channel=Channel.API, text="still broken")

    assert owed(service, number) == first
    assert service.get(number).version == 3  # the changes themselves are all stored


def test_once_a_worker_holds_it_the_next_change_owes_a_new_one(
    service: TicketService, clock: FakeClock
) -> None:
    number = service.open_ticket(player=PLAYER, channel=Channel.API, text="help").number
    assert len(service.outbox.claim_due(INDEX, clock(), [ticket_id(service, number)])) == 1

    service.add_note(number, actor=AGENT, text="checked the logs")

    records = owed(service, number)
    assert len(records) == 2
    assert [r.get("lease") is None for r in records] == [False, True]


def test_a_claim_between_the_change_read_and_its_write_makes_it_owe_its_own(
    service: TicketService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = service.open_ticket(player=PLAYER, channel=Channel.API, text="help").number
    kinds_for = service.subscriptions.kinds_for
    claims: list[Any] = []

    def claimed_meanwhile(*args: Any, **kwargs: Any) -> list[str]:
        # Asked after the change read the ticket and before it writes: a worker claims the
        # waiting effect now, and reads the ticket as it was before the change.
        if not claims:
            claims.append(service.outbox.claim_due(INDEX, clock(), [ticket_id(service, number)]))
        return kinds_for(*args, **kwargs)

    monkeypatch.setattr(service.subscriptions, "kinds_for", claimed_meanwhile)
    service.add_note(number, actor=AGENT, text="checked the logs")

    assert len(claims[0]) == 1, "the worker claimed the first effect"
    waiting = [r for r in owed(service, number) if r.get("lease") is None]
    assert len(waiting) == 1, "the note owes an effect of its own"
    assert service.get(number).version == 2, "and the note is stored once"


def test_a_dead_one_stands_for_nothing(service: TicketService, clock: FakeClock) -> None:
    number = service.open_ticket(player=PLAYER, channel=Channel.API, text="help").number
    [record] = owed(service, number)
    service.store.tickets.update_one(
        {"number": number},
        {"$set": {"outbox.$[e].due_at": None, "outbox.$[e].dead_at": clock()}},
        array_filters=[{"e.key": record["key"]}],
    )

    service.add_note(number, actor=AGENT, text="checked the logs")

    assert len(owed(service, number)) == 2
