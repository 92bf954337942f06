"""Keep the search index in step with the tickets, from the outbox.

Every change re-indexes its ticket as a whole document (fields, the player's messages,
the replies, the notes), a second after the change so a burst folds into one write. The
store stays the source of truth: a lost index is rebuilt by `helpdesk reindex`.
"""

from __future__ import annotations

from collections.abc import Iterator

from jobs.runtime import Runtime
from ticketcore.effects import EVERY_EVENT
from ticketcore.models import HistoryEntry, MessageKind, Ticket
from ticketcore.queries import TicketQueries
from ticketcore.search.port import IndexedTicket
from ticketcore.store import Document, to_ticket

SEARCH_INDEX = "search.index"
SUBSCRIPTIONS = {SEARCH_INDEX: {EVERY_EVENT}}
DELAY = 1.0  # seconds: changes to one ticket within it become one index write
PAGE = 500


def indexed(queries: TicketQueries, ticket: Ticket) -> IndexedTicket:
    """The ticket as the index keeps it, with every message (oldest first)."""
    by_kind: dict[MessageKind, list[str]] = {kind: [] for kind in MessageKind}
    for entry in all_messages(queries, ticket):
        if entry.message is not None:
            by_kind[entry.message.kind].append(entry.message.text)
    return IndexedTicket(
        id=ticket.id,
        number=ticket.number,
        subject=ticket.subject,
        status=ticket.status.value,
        priority=ticket.priority.value,
        channel=ticket.channel.value,
        queue=ticket.queue,
        assignee=ticket.assignee,
        tags=ticket.tags,
        player_id=ticket.player.player_id,
        email=ticket.player.email,
        telegram_username=ticket.player.telegram_username,
        language=ticket.player.language,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        player_texts=tuple(by_kind[MessageKind.PLAYER]),
        replies=tuple(by_kind[MessageKind.REPLY]),
        notes=tuple(by_kind[MessageKind.NOTE]),
    )


def all_messages(queries: TicketQueries, ticket: Ticket) -> Iterator[HistoryEntry]:
    pages = []
    page = queries.messages(ticket, limit=PAGE)
    pages.append(page.items)
    while page.before is not None:
        page = queries.messages(ticket, before=page.before, limit=PAGE)
        pages.append(page.items)
    for items in reversed(pages):
        yield from items


def index_ticket(rt: Runtime, doc: Document, record: Document) -> None:
    """The effect handler: re-index the ticket as it is now."""
    if rt.search is None:
        return None
    fresh = rt.store.tickets.find_one({"_id": doc["_id"]}, {"outbox": 0})
    if fresh is None:
        return None
    # Only the worker that runs the cron works this kind's queue: the index's one writer.
    rt.search.upsert([indexed(rt.service, to_ticket(fresh))])
    return None
