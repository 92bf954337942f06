"""Reading tickets: the queries every edge asks, and history merged with what is carried."""

from __future__ import annotations

import itertools
from datetime import timedelta

from pymongo import DESCENDING
from pymongo.collection import Collection

from ticketcore.clock import Clock
from ticketcore.counts import TicketCounts
from ticketcore.errors import TicketNotFound
from ticketcore.lifecycle import OPEN_STATUSES, Status
from ticketcore.models import Channel, HistoryEntry, MessagePage, Player, Priority, Ticket
from ticketcore.outbox import HISTORY_STORE
from ticketcore.search.port import Hit, Page
from ticketcore.store import Document, Store, to_entry, to_ticket
from ticketcore.writes import entry_from_record, is_worth_keeping

PRIORITY_ORDER = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]
RECENTLY_CLOSED = timedelta(days=30)
# The open statuses as a query asks for them: `$in` rides a compound index where `$nin`
# (resolved or closed) makes the embedded server read every ticket.
STILL_OPEN = {"$in": sorted(OPEN_STATUSES)}
WINDOW_GROWTH = 4


def newest_first(
    collection: Collection[Document],
    query: Document,
    *,
    field: str,
    below: int,
    count: int,
    window: int,
    projection: Document | None = None,
) -> list[Document]:
    """The `count` documents matching `query` with the highest `field` below `below`,
    highest first: read in slices of `field` (a dense counter: ticket numbers, a
    ticket's seq), each `WINDOW_GROWTH` times wider than the last, until they hold enough.

    The embedded server reads every document a query matches before it sorts and
    limits, so an open-ended `{status: "new"}` sorted by number cost as much as every
    new ticket ever written (3.5 s at 20,000). A slice bounded on both sides costs what
    it holds, and slices widen only where matches are sparse, so a page costs about
    the same at a thousand tickets and at half a million. Each slice must be served by
    an index that ends in `field` after the query's equalities.
    """
    found: list[Document] = []
    while len(found) < count and below > 0:
        low = max(0, below - window)
        in_slice = {**query, field: {"$gte": low, "$lt": below}}
        cursor = collection.find(in_slice, projection).sort(field, DESCENDING)
        found += cursor.limit(count - len(found))
        below, window = low, window * WINDOW_GROWTH
    return found


def carried_entries(ticket: Document) -> list[HistoryEntry]:
    """History entries still riding in the ticket's outbox, waiting to be stored."""
    entries = (entry_from_record(r) for r in ticket.get("outbox", []) if r["kind"] == HISTORY_STORE)
    return [entry for entry in entries if is_worth_keeping(entry)]


def latest_on_channel(player: Player, channel: Channel) -> Document:
    """The query for the player's tickets on a channel, the latest first when sorted by
    number descending: what a new message of theirs joins. Nothing else in it: with a
    field outside its index the embedded server reads every ticket."""
    return {"player_key": player.key(), "channel": channel.value}


class TicketQueries:
    """The read side of TicketService."""

    store: Store
    clock: Clock

    def get(self, number: int) -> Ticket:
        doc = self.store.tickets.find_one({"number": number}, {"outbox": 0})
        if doc is None:
            raise TicketNotFound(number)
        return to_ticket(doc)

    def found(self, page: Page) -> list[tuple[Hit, Ticket]]:
        """A search page's hits with their tickets, read in one query; a hit whose ticket
        the store no longer holds (the index lags a deletion) is left out."""
        numbers = [hit.number for hit in page.hits]
        docs = self.store.tickets.find({"number": {"$in": numbers}}, {"outbox": 0})
        by_number = {int(doc["number"]): to_ticket(doc) for doc in docs}
        return [(hit, by_number[hit.number]) for hit in page.hits if hit.number in by_number]

    def find(
        self,
        *,
        status: Status | None = None,
        player_id: str | None = None,
        assignee: str | None = None,
        before_number: int | None = None,
        limit: int = 50,
    ) -> list[Ticket]:
        """Tickets newest first; page on with `before_number` set to the last one seen.

        A player's tickets are few: they are read whole through the player's index and
        the other conditions checked here. Any other list is read in slices of numbers
        down from the newest (`newest_first`), through an index for its conditions."""
        below = self.store.latest_number() + 1
        if before_number is not None:
            below = min(below, before_number)
        wanted: Document = {}
        if status is not None:
            wanted["status"] = status.value
        if assignee is not None:
            wanted["assignee"] = assignee
        if player_id is not None:
            query = {"player.player_id": player_id, "number": {"$lt": below}}
            cursor = self.store.tickets.find(query, {"outbox": 0}).sort("number", DESCENDING)
            kept = (d for d in cursor if all(d.get(k) == v for k, v in wanted.items()))
            docs = list(itertools.islice(kept, limit))
        else:
            docs = newest_first(
                self.store.tickets,
                wanted,
                field="number",
                below=below,
                count=limit,
                window=2 * limit,
                projection={"outbox": 0},
            )
        return [to_ticket(doc) for doc in docs]

    def find_by_ref(self, name: str, value: str) -> Ticket | None:
        """The ticket an outside system knows by `value` (a Slack card, a mail thread)."""
        doc = self.store.tickets.find_one({f"refs.{name}": value}, {"outbox": 0})
        return to_ticket(doc) if doc else None

    def stored_with(self, inbound_id: str) -> Ticket | None:
        """The ticket a platform's message was stored on, by its id (Ticket.inbound_ids)."""
        doc = self.store.tickets.find_one({"inbound_ids": inbound_id}, {"outbox": 0})
        return to_ticket(doc) if doc else None

    def open_count(self, assignee: str) -> int:
        """How many open tickets an agent holds (round robin's cap reads it)."""
        return self.store.tickets.count_documents({"assignee": assignee, "status": STILL_OPEN})

    def open_tickets(self, *, assignee: str, limit: int = 50) -> list[Ticket]:
        """An agent's open tickets, most urgent first, then oldest first."""
        query = {"assignee": assignee, "status": STILL_OPEN}
        docs = self.store.tickets.find(query, {"outbox": 0}).limit(500)
        tickets = [to_ticket(doc) for doc in docs]
        tickets.sort(key=lambda t: (-PRIORITY_ORDER.index(t.priority), t.created_at))
        return tickets[:limit]

    def current_ticket(self, player: Player, channel: Channel) -> Ticket | None:
        """The ticket a new message from this player on this channel would join: their
        latest there, unless it is closed (the message would open a new one)."""
        doc = self.store.tickets.find_one(
            latest_on_channel(player, channel), {"outbox": 0}, sort=[("number", DESCENDING)]
        )
        return to_ticket(doc) if doc and doc.get("active") else None

    def player_tickets(self, player: Player, *, limit: int = 20) -> list[Ticket]:
        """The player's tickets on every channel, newest first, by each identity known of
        them (game id, email, Telegram user), on the ticket or in the player directory:
        tickets from before the identities were linked belong to the same person too. One
        indexed query per identity."""
        identities: dict[str, object] = {
            "player_id": player.player_id,
            "email": player.email,
            "telegram_user_id": player.telegram_user_id,
        }
        known: dict[str, set[object]] = {
            name: {value} if value is not None else set() for name, value in identities.items()
        }
        # One query per identity: the embedded server serves no `$or` from an index, and
        # the directory holds every player the desk has met.
        ours = [{name: value} for name, values in known.items() for value in values]
        for record in (found for query in ours for found in self.store.players.find(query)):
            for name, values in known.items():
                if record.get(name) is not None:
                    values.add(record[name])
        found: dict[int, Document] = {}
        for name, values in known.items():
            for value in values:
                docs = self.store.tickets.find({f"player.{name}": value}, {"outbox": 0})
                for doc in docs.sort("number", DESCENDING).limit(limit):
                    found[doc["number"]] = doc
        newest = sorted(found, reverse=True)[:limit]
        return [to_ticket(found[number]) for number in newest]

    def open_for_telegram(self, telegram_user_id: int) -> list[Ticket]:
        """A Telegram user's tickets that are not resolved or closed, newest first."""
        query = {"player.telegram_user_id": telegram_user_id, "status": STILL_OPEN}
        docs = self.store.tickets.find(query, {"outbox": 0}).sort("number", DESCENDING)
        return [to_ticket(d) for d in docs.limit(20)]

    def count_by_status(self, *, queue: str | None = None) -> dict[Status, int]:
        return TicketCounts(self.store).by_status(queue=queue)

    def opening_text(self, ticket: Ticket) -> str:
        """The text the ticket was opened with (read from history only for old tickets)."""
        if ticket.opening_text:
            return ticket.opening_text
        first = self.first_message(ticket)
        return first.message.text if first and first.message else ""

    def first_message(self, ticket: Ticket) -> HistoryEntry | None:
        """The message the ticket was opened with."""
        page = self._entries(ticket.number, 2, 1, messages_only=True)
        return page.items[0] if page.items else None

    def messages(
        self, ticket: Ticket, *, before: int | None = None, limit: int = 100
    ) -> MessagePage:
        """The latest `limit` messages before seq `before`, oldest first."""
        return self._entries(ticket.number, before, limit, messages_only=True)

    def history(
        self, ticket: Ticket, *, before: int | None = None, limit: int = 100
    ) -> MessagePage:
        return self._entries(ticket.number, before, limit, messages_only=False)

    def entry(self, ticket: Document, entry_id: str) -> HistoryEntry:
        """One history entry of a raw ticket document, stored or still carried."""
        for entry in carried_entries(ticket):
            if entry.id == entry_id:
                return entry
        doc = self.store.history.find_one({"_id": entry_id})
        if doc is None:
            raise LookupError(f"history entry {entry_id} of ticket #{ticket['number']} is missing")
        return to_entry(doc)

    def _entries(
        self, number: int, before: int | None, limit: int, *, messages_only: bool
    ) -> MessagePage:
        """Stored entries merged with those the ticket still carries in its outbox.

        The ticket is read before the history, so an entry a worker moves in between is
        seen in one place or the other, never in neither.
        """
        doc = self.store.tickets.find_one(
            {"number": number}, {"number": 1, "outbox": 1, "version": 1}
        )
        if doc is None:
            raise TicketNotFound(number)
        carried = [
            entry
            for entry in carried_entries(doc)
            if (entry.message is not None or not messages_only)
            and (before is None or entry.seq < before)
        ]
        query: Document = {"ticket_id": doc["_id"]}
        if messages_only:
            query["is_message"] = True
        below = before if before is not None else int(doc.get("version", 0)) + 1
        # A ticket's seqs are dense (one per action, most of them messages), so the
        # first slice nearly always holds the page.
        newest = newest_first(
            self.store.history,
            query,
            field="seq",
            below=below,
            count=limit + 1,
            window=2 * (limit + 1),
        )
        by_id = {entry.id: entry for entry in map(to_entry, newest)}
        by_id.update((entry.id, entry) for entry in carried)
        ordered = sorted(by_id.values(), key=lambda entry: entry.seq)
        items = tuple(ordered[-limit:])
        more = len(ordered) > limit
        return MessagePage(items=items, before=items[0].seq if more and items else None)
