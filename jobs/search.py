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
    """The effect handler: re-index the ticket as it is now."""
    if rt.search is None:
        return None
    ticket = TicketReader(rt.store).one(doc["_id"])
    if ticket is not None:
        # Only the worker that runs the cron works this kind's queue: the index's one writer.
        rt.search.upsert([ticket])
    return None
