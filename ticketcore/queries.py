"""Reading tickets: the queries every edge asks, and history merged with what is carried."""

from __future__ import annotations

from datetime import timedelta

from pymongo import DESCENDING

from ticketcore.clock import Clock
from ticketcore.errors import TicketNotFound
from ticketcore.lifecycle import DONE_STATUSES, Status
from ticketcore.models import Channel, HistoryEntry, MessagePage, Player, Priority, Ticket
from ticketcore.outbox import HISTORY_STORE
from ticketcore.search.port import Hit, Page
from ticketcore.store import Document, Store, to_entry, to_ticket
from ticketcore.writes import entry_from_record, is_worth_keeping

PRIORITY_ORDER = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]
RECENTLY_CLOSED = timedelta(days=30)


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
        """Tickets newest first; page on with `before_number` set to the last one seen."""
        query: Document = {}
        if status is not None:
            query["status"] = status.value
        if player_id is not None:
            query["player.player_id"] = player_id
        if assignee is not None:
            query["assignee"] = assignee
        if before_number is not None:
            query["number"] = {"$lt": before_number}
        cursor = self.store.tickets.find(query, {"outbox": 0}).sort("number", DESCENDING)
        return [to_ticket(doc) for doc in cursor.limit(limit)]

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
        query = {"assignee": assignee, "status": {"$nin": [*DONE_STATUSES]}}
        return self.store.tickets.count_documents(query)

    def open_tickets(self, *, assignee: str, limit: int = 50) -> list[Ticket]:
        """An agent's open tickets, most urgent first, then oldest first."""
        query = {"assignee": assignee, "status": {"$nin": [*DONE_STATUSES]}}
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
        ours = [{name: value} for name, values in known.items() for value in values]
        for record in self.store.players.find({"$or": ours}) if ours else []:
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
        query = {
            "player.telegram_user_id": telegram_user_id,
            "status": {"$nin": [*DONE_STATUSES]},
        }
        docs = self.store.tickets.find(query, {"outbox": 0}).sort("number", DESCENDING)
        return [to_ticket(d) for d in docs.limit(20)]

    def count_by_status(self, *, queue: str | None = None) -> dict[Status, int]:
        base: Document = {} if queue is None else {"queue": queue}
        return {s: self.store.tickets.count_documents({**base, "status": s.value}) for s in Status}

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
        newest = self._latest_stored(query, below, limit + 1)
        by_id = {entry.id: entry for entry in map(to_entry, newest)}
        by_id.update((entry.id, entry) for entry in carried)
        ordered = sorted(by_id.values(), key=lambda entry: entry.seq)
        items = tuple(ordered[-limit:])
        more = len(ordered) > limit
        return MessagePage(items=items, before=items[0].seq if more and items else None)

    def _latest_stored(self, query: Document, below: int, count: int) -> list[Document]:
        """The `count` stored entries matching `query` with the highest seq below `below`.

        Asked for in windows of seq that grow until they hold enough: the embedded engine
        sorts every match in memory before it limits, so an unbounded range made a page
        of a 10,000-message ticket cost 200 ms. A ticket's seqs are dense (one per action,
        most of them messages), so the first window nearly always suffices.
        """
        window = 2 * count
        while True:
            low = max(0, below - window)
            found = list(
                self.store.history.find({**query, "seq": {"$gte": low, "$lt": below}})
                .sort("seq", DESCENDING)
                .limit(count)
            )
            if len(found) >= count or low == 0:
                return found
            window *= 4
