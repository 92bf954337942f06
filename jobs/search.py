"""Keep the search index in step with the tickets, from the outbox.

Every change re-indexes its ticket as a whole document (fields, the player's messages,
the replies, the notes), a second after the change so a burst folds into one write. The
store stays the source of truth: a lost index is rebuilt by `helpdesk reindex`.
"""

from __future__ import annotations

from jobs.runtime import Runtime
from ticketcore.effects import EVERY_EVENT
from ticketcore.search.indexing import TicketReader
from ticketcore.store import Document

SEARCH_INDEX = "search.index"
SUBSCRIPTIONS = {SEARCH_INDEX: {EVERY_EVENT}}
DELAY = 1.0  # seconds: changes to one ticket within it become one index write


def index_ticket(rt: Runtime, doc: Document, record: Document) -> None:
    """The effect handler: re-index the ticket as it is now. That covers every change made
    before the read, so their own index writes are dropped with this one: when the queue
    runs behind, a ticket changed five times meanwhile is written once, not five times."""
    if rt.search is None:
        return None
    current = rt.store.tickets.find_one({"_id": doc["_id"]})
    if current is None:
        return None
    # Only the worker that runs the cron works this kind's queue: the index's one writer,
    # so no other worker holds one of these records meanwhile.
    rt.search.upsert(TicketReader(rt.store).read([current]))
    covered = [
        r["key"]
        for r in current.get("outbox", [])
        if r["kind"] == SEARCH_INDEX and r["key"] != record["key"] and r.get("dead_at") is None
    ]
    if covered:
        rt.outbox.complete_many(str(current["_id"]), covered)
    return None
