"""Tickets per status and queue are kept as tickets are written, and equal a recount."""

from __future__ import annotations

from collections import Counter

from tests.conftest import AGENT, PLAYER, FakeClock
from ticketcore.counts import TicketCounts
from ticketcore.lifecycle import Status
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService
from ticketcore.store import COUNTS_MADE, Store


def recounted(store: Store, queue: str | None = None) -> dict[Status, int]:
    query = {} if queue is None else {"queue": queue}
    found = Counter(doc["status"] for doc in store.tickets.find(query, {"status": 1}))
    return {status: found[status.value] for status in Status}


def assert_kept(service: TicketService) -> None:
    for queue in (None, "billing", "tech"):
        assert service.count_by_status(queue=queue) == recounted(service.store, queue), queue


def test_counts_follow_every_kind_of_write(store: Store, clock: FakeClock) -> None:
    service = TicketService(store, clock)
    assert_kept(service)
    first = service.add_player_message(player=PLAYER, channel=Channel.API, text="no gems").number
    other = Player(player_id="p-2002")
    second = service.add_player_message(player=other, channel=Channel.API, text="lag").number
    assert_kept(service)
    service.take(first, actor=AGENT)  # new -> in progress
    service.change(second, actor=AGENT, queue="billing")  # another queue, same status
    assert_kept(service)
    service.reply(first, actor=AGENT, text="sent")  # -> answered
    service.change(second, actor=AGENT, queue="tech", status=Status.PENDING)  # both at once
    assert_kept(service)
    service.add_player_message(player=PLAYER, channel=Channel.API, text="still none")  # reopened
    service.set_status(first, Status.RESOLVED, actor=AGENT)
    service.merge(second, first, actor=AGENT)  # closed as a duplicate
    assert_kept(service)
    # A write that changes neither leaves the counts alone.
    service.add_note(first, actor=AGENT, text="checked the logs")
    assert_kept(service)
    assert service.count_by_status()[Status.CLOSED] == 1
    assert service.count_by_status(queue="tech") == {
        **dict.fromkeys(Status, 0),
        Status.CLOSED: 1,
    }


def test_an_install_without_counts_is_counted_at_its_first_question(
    store: Store, clock: FakeClock
) -> None:
    service = TicketService(store, clock)
    for n in range(3):
        player = Player(player_id=f"p-{n}")
        ticket = service.add_player_message(player=player, channel=Channel.API, text="help")
        if n:
            service.take(ticket.number, actor=AGENT)
    # As an install upgraded from before the counts: tickets, and no counts at all.
    store.ticket_counts.delete_many({})
    store.counters.delete_one({"_id": COUNTS_MADE})
    assert service.count_by_status() == recounted(store)
    # A count a crash left off is put right by counting again.
    store.ticket_counts.update_one({"_id": ""}, {"$inc": {"new": 5}})
    assert service.count_by_status()[Status.NEW] == 6
    TicketCounts(store).recount()
    assert service.count_by_status() == recounted(store)
