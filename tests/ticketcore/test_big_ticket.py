"""A ticket with 10,000 messages still loads, pages and takes updates."""

import pytest

from tests.conftest import AGENT, PLAYER, FakeClock
from ticketcore.lifecycle import Status
from ticketcore.models import Channel
from ticketcore.service import TicketService
from ticketcore.store import Store
from ticketcore.writer import MAX_CARRIED_HISTORY

pytestmark = pytest.mark.slow  # 10,000 writes


@pytest.mark.timeout(600)
def test_ten_thousand_messages(store: Store, clock: FakeClock) -> None:
    service = TicketService(store, clock)  # no queue and no worker: nothing drains the outbox
    number = service.add_player_message(player=PLAYER, channel=Channel.API, text="message 0").number
    text = "x" * 2000  # 10,000 of these in one document would pass 16 MB
    for i in range(1, 10_000):
        service.add_player_message(player=PLAYER, channel=Channel.API, text=f"message {i} {text}")
    ticket = service.reply(number, actor=AGENT, text="finally")
    assert ticket.message_count == 10_001
    assert ticket.status is Status.ANSWERED

    # No worker ran: the ticket document stayed small because the request path trimmed it.
    raw = service.store.tickets.find_one({"number": number})
    assert len(raw["outbox"]) <= 2 * (MAX_CARRIED_HISTORY + 1)

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
    assert len(seen) == 10_001
    assert seen == sorted(seen)
