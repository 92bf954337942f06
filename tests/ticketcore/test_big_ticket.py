"""A ticket with 10,000 messages still loads, pages and takes updates."""

import pytest
from bson import ObjectId

from tests.conftest import AGENT, PLAYER, FakeClock
from ticketcore.events import Event
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, HistoryEntry
from ticketcore.service import TicketService
from ticketcore.store import Store, save_entries
from ticketcore.writer import MAX_CARRIED_HISTORY
from ticketcore.writes import new_entry_id, player_actor, player_message

pytestmark = pytest.mark.slow  # 10,000 messages

TOTAL = 10_000
THROUGH_THE_SERVICE = 300  # enough for the request path to have trimmed the outbox often
TEXT = "x" * 2000  # 10,000 of these in one document would pass 16 MB


def store_as_a_worker_would(store: Store, number: int, count: int, clock: FakeClock) -> None:
    """`count` more player messages on ticket `number`, in the history where a worker
    moves them, and the ticket's counters as the writes would have left them."""
    doc = store.tickets.find_one({"number": number})
    assert doc is not None
    actor = player_actor(PLAYER, Channel.API)
    entries = [
        HistoryEntry(
            id=new_entry_id(),
            ticket_id=str(doc["_id"]),
            number=number,
            seq=doc["version"] + i,
            event=Event.MESSAGE_RECEIVED,
            actor=actor,
            at=clock.advance(seconds=1),
            message=player_message(
                Channel.API, f"message {doc['message_count'] + i - 1} {TEXT}", None, ()
            ),
        )
        for i in range(1, count + 1)
    ]
    for start in range(0, count, 1000):
        save_entries(store, entries[start : start + 1000])
    store.tickets.update_one(
        {"_id": ObjectId(doc["_id"])},
        {"$inc": {"version": count, "message_count": count}},
    )


@pytest.mark.timeout(600)
def test_ten_thousand_messages(store: Store, clock: FakeClock) -> None:
    service = TicketService(store, clock)  # no queue and no worker: nothing drains the outbox
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="message 0").number
    for i in range(1, THROUGH_THE_SERVICE):
        service.add_player_message(player=PLAYER, channel=Channel.API, text=f"message {i} {TEXT}")

    # No worker ran: the ticket document stayed small because the request path trimmed it.
    raw = service.store.tickets.find_one({"number": number})
    assert raw["message_count"] == THROUGH_THE_SERVICE
    assert len(raw["outbox"]) <= 2 * (MAX_CARRIED_HISTORY + 1)

    store_as_a_worker_would(store, number, TOTAL - THROUGH_THE_SERVICE, clock)
    ticket = service.reply(number, actor=AGENT, text="finally")
    assert ticket.message_count == TOTAL + 1
    assert ticket.status is Status.ANSWERED

    latest = service.messages(ticket)
    assert len(latest.items) == 100
    assert latest.items[-1].message.text == "finally"
    pages, before = 1, latest.before
    seen = [m.seq for m in latest.items]
    while before is not None:
        page = service.messages(ticket, before=before)
        seen = [m.seq for m in page.items] + seen
        before = page.before
        pages += 1
    assert pages == 101
    assert len(seen) == TOTAL + 1
    assert seen == sorted(seen)
    texts = [m.message.text.split(" ", 2)[:2] for m in (*page.items, *latest.items)]
    assert texts[0] == ["message", "0"]
