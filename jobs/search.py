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
# Tickets one index write covers at most: when the queue runs behind, the job of one ticket
# also writes the others that owe an index write by then, in one commit.
BATCH = 100


def index_ticket(rt: Runtime, doc: Document, record: Document) -> None:
    """The effect handler: re-index the ticket as it is now, with the other tickets whose
    index write is due. Reading a ticket covers every change made before the read, so the
    index writes those changes owe are dropped with this one: when the queue runs behind,
    a hundred tickets changed five times each are one commit, not five hundred, and their
    own jobs find nothing left to do."""
    if rt.search is None:
        return None
    current = rt.store.tickets.find_one({"_id": doc["_id"]})
    if current is None:
        return None
    behind = rt.store.tickets.find(
        {
            "_id": {"$ne": current["_id"]},
            "outbox.due_at": {"$lte": rt.clock()},
            "outbox.kind": SEARCH_INDEX,
        }
    ).limit(BATCH - 1)
    docs = [current, *behind]
    # Only the worker that runs the cron works this kind's queue: the index's one writer,
    # so no other worker holds one of these records meanwhile.
    rt.search.upsert(TicketReader(rt.store).read(docs))
    for read in docs:
        covered = [
            r["key"]
            for r in read.get("outbox", [])
            if r["kind"] == SEARCH_INDEX and r["key"] != record["key"] and r.get("dead_at") is None
        ]
        if covered:
            rt.outbox.complete_many(str(read["_id"]), covered)
    return None
