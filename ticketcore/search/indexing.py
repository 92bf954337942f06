"""What the index keeps of a ticket, read from the store in bulk.

A batch of tickets costs two round trips whatever its size: the ticket documents the caller
already holds, and one query for every message of all of them. A rebuild reads 200,000
tickets this way; the outbox job reads one.
"""

from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId

from ticketcore.models import MessageKind, Ticket
from ticketcore.queries import carried_entries
from ticketcore.search.port import IndexedTicket
from ticketcore.store import Document, Store, to_ticket

# What a message contributes to the index: its order in the ticket, its kind, its text.
Message = tuple[int, MessageKind, str]
_MESSAGE_FIELDS = {"ticket_id": 1, "seq": 1, "is_message": 1, "message.kind": 1, "message.text": 1}


def indexed(ticket: Ticket, messages: Iterable[Message]) -> IndexedTicket:
    """The ticket as the index holds it: its fields and every message, oldest first."""
    by_kind: dict[MessageKind, list[str]] = {kind: [] for kind in MessageKind}
    for _, kind, text in sorted(messages, key=lambda message: message[0]):
        by_kind[kind].append(text)
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


class TicketReader:
    """Turns raw ticket documents (outbox included) into what the index keeps."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self, docs: list[Document], *, by_id_range: bool = False) -> list[IndexedTicket]:
        """`by_id_range`: ask for the history of the whole range of the docs' ids, and skip
        the entries of tickets outside them (a rebuild's slice of numbers, whose ids are
        close together). The embedded server checks a long `$in` against every entry it
        reads, a thousand ids a thousand times over; a range it checks once."""
        # Keyed by entry id: an entry both stored and still carried in the outbox (a worker
        # moving it between the two reads) counts once.
        messages: dict[ObjectId, dict[str, Message]] = {doc["_id"]: {} for doc in docs}
        ids: Document = {"$in": list(messages)}
        if by_id_range and messages:
            ids = {"$gte": min(messages), "$lte": max(messages)}
        # The tickets alone in the query, messages picked here: with `is_message` beside
        # them, no index serves it and the embedded server read the whole history.
        for entry in self.store.history.find({"ticket_id": ids}, _MESSAGE_FIELDS):
            found = messages.get(entry["ticket_id"])
            if found is None or not entry.get("is_message"):
                continue
            message = entry["message"]
            kind = MessageKind(message["kind"])
            found[str(entry["_id"])] = (entry["seq"], kind, message["text"])
        for doc in docs:
            for carried in carried_entries(doc):
                if carried.message is not None:
                    message = (carried.seq, carried.message.kind, carried.message.text)
                    messages[doc["_id"]][carried.id] = message
        return [indexed(to_ticket(doc), messages[doc["_id"]].values()) for doc in docs]
