"""A search page's hits with their tickets: one read for the page, in the hits' order."""

from __future__ import annotations

from tests.ticketcore.conftest import TicketReads
from ticketcore.models import Channel, Player
from ticketcore.search.port import Hit, Page
from ticketcore.service import TicketService


def test_a_pages_tickets_come_in_one_read_in_the_hits_order(
    service: TicketService, reads: tuple[TicketService, TicketReads]
) -> None:
    counted, counter = reads
    numbers = [
        service.open_ticket(
            player=Player(email=f"p{i}@example.com"), channel=Channel.API, text=f"issue {i}"
        ).number
        for i in range(5)
    ]
    order = [numbers[3], numbers[0], 99_999, numbers[4]]  # 99,999: the index lags a deletion
    page = Page(
        hits=tuple(Hit(n, 1.0 / (i + 1), f"issue {n}") for i, n in enumerate(order)), cursor=None
    )
    counter.count = 0

    found = counted.found(page)

    assert [(hit.number, ticket.number) for hit, ticket in found] == [
        (numbers[3], numbers[3]),
        (numbers[0], numbers[0]),
        (numbers[4], numbers[4]),
    ]
    assert found[0][1].opening_text == "issue 3"
    assert counter.count == 1
