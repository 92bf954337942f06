"""Keep the search index in step with the tickets, from the outbox.

Every change re-indexes its ticket as a whole document (fields, the player's messages,
the replies, the notes). The kind is drained (jobs.drain): one index write covers every
ticket whose index write is due, each read as it is now, so a ticket changed five times
while the index was busy is written once. The store stays the source of truth: a lost
index is rebuilt by `helpdesk reindex`.
"""

from __future__ import annotations

from jobs.runtime import Claimed, Runtime
from ticketcore.effects import EVERY_EVENT, Lane, effect_kind
from ticketcore.search.indexing import TicketReader

SEARCH_INDEX = "search.index"
# An index write reads the ticket as it is then (coalesced); the embedded index has one
# writer (the single lane); a drain waits a second once asked: a burst of changes becomes
# one write.
KIND = effect_kind(
    SEARCH_INDEX, {EVERY_EVENT}, lane=Lane.SINGLE, delay=1.0, drained=True, coalesced=True
)


def index_tickets(rt: Runtime, claimed: Claimed) -> None:
    """The batch handler: the tickets as read when their records were leased, which is
    after every change those records stand for."""
    if rt.search is None:
        return None
    rt.search.upsert(TicketReader(rt.store).read([ticket for ticket, _ in claimed]))
    return None
