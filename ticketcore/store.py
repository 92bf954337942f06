"""MongoDB collections, their indexes, and conversion between documents and models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ticketcore.models import HistoryEntry, Ticket

Document = dict[str, Any]

NUMBER_COUNTER = "ticket_number"
COUNTS_MADE = "ticket_counts"  # in the counters: the counts per status exist (counts.py)
# Indexes earlier versions made that no query uses any more. Every index is rewritten on
# every update of a ticket, so an unused one is pure cost: `outbox.key` (one entry per
# owed effect) made each outbox write about a tenth dearer on the embedded server.
OBSOLETE_TICKET_INDEXES = ("outbox.key_1",)
# Earlier than any date the desk stores; the lower bound of `at_or_before`.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def at_or_before(moment: datetime) -> Document:
    """A filter on an indexed date: set, and not after `moment`.

    Bounded below on purpose. With `$lte` alone the embedded engine scans the index from
    its lowest key, through the null it keeps for every document without the date (every
    ticket whose outbox is empty, say): the outbox sweep read all 100,000 tickets of a
    year's store, six seconds every ten. From EARLIEST the scan starts at the first date."""
    return {"$gte": EARLIEST, "$lte": moment}


def is_set() -> Document:
    """A filter on an indexed date: set, at any moment (see `at_or_before`)."""
    return {"$gte": EARLIEST}


@dataclass(frozen=True)
class Store:
    """The helpdesk's collections in one MongoDB database."""

    db: Database[Document]

    @classmethod
    def connect(cls, client: MongoClient[Document], name: str) -> Store:
        return cls(client[name])

    @property
    def tickets(self) -> Collection[Document]:
        return self.db["tickets"]

    @property
    def history(self) -> Collection[Document]:
        return self.db["history"]

    @property
    def players(self) -> Collection[Document]:
        return self.db["players"]

    @property
    def agents(self) -> Collection[Document]:
        return self.db["agents"]

    @property
    def mail_sent(self) -> Collection[Document]:
        """The ledger of mails handed to the provider, by our Message-Id."""
        return self.db["mail_sent"]

    @property
    def originals(self) -> Collection[Document]:
        """Mails as they arrived, by `Message.original_ref` (see ticketcore.originals)."""
        return self.db["originals"]

    @property
    def counters(self) -> Collection[Document]:
        return self.db["counters"]

    def ensure_indexes(self, refs: tuple[str, ...] = ()) -> None:
        """Create every index the queries rely on; safe to run at every start. `refs` are
        the names outside systems know tickets by (see TicketService.find_by_ref)."""
        existing = self.tickets.index_information()
        for name in OBSOLETE_TICKET_INDEXES:
            if name in existing:
                self.tickets.drop_index(name)
        for name in refs:
            self.tickets.create_index([(f"refs.{name}", ASCENDING)], sparse=True)
        self.tickets.create_index([("number", ASCENDING)], unique=True)
        # The player's current ticket on a channel: the hot path of intake.
        self.tickets.create_index(
            [("player_key", ASCENDING), ("channel", ASCENDING), ("number", DESCENDING)]
        )
        self.tickets.create_index([("status", ASCENDING), ("number", DESCENDING)])
        self.tickets.create_index([("player.player_id", ASCENDING), ("number", DESCENDING)])
        self.tickets.create_index([("assignee", ASCENDING), ("number", DESCENDING)])
        # An agent's open tickets (status `$in` the open ones), and a list of one agent's
        # tickets in one status, newest first.
        self.tickets.create_index(
            [("assignee", ASCENDING), ("status", ASCENDING), ("number", DESCENDING)]
        )
        # An agent's report also reads the tickets the agent replied on, changed since the
        # period's start (ticketcore.stats; writes.AGENT_REPLIES).
        self.tickets.create_index([("agent_replies.by", ASCENDING), ("updated_at", ASCENDING)])
        # The sweeper's question: which effects are owed and overdue?
        self.tickets.create_index([("outbox.due_at", ASCENDING)])
        # Effects that gave up: few tickets hold one (metrics, `helpdesk outbox dead`).
        self.tickets.create_index([("outbox.dead_at", ASCENDING)], sparse=True)
        self.history.create_index(
            [("ticket_id", ASCENDING), ("is_message", ASCENDING), ("seq", ASCENDING)]
        )
        self.history.create_index([("ticket_id", ASCENDING), ("seq", ASCENDING)])
        self.history.create_index([("message.external_id", ASCENDING)], sparse=True)
        self.players.create_index("player_id", unique=True, sparse=True)
        self.players.create_index("email", sparse=True)
        self.players.create_index("telegram_user_id", sparse=True)
        # Notices owed outside any ticket (ticketcore.notices): what falls due.
        self.players.create_index("notices.due_at", sparse=True)
        self.tickets.create_index([("queue", ASCENDING), ("status", ASCENDING)])
        # One Message-Id belongs to one ticket: the same mail delivered twice at once
        # cannot open two tickets; likewise a platform's id of any other message. Sparse,
        # and never stored empty, so tickets without them do not collide.
        self.tickets.create_index([("mail_ids", ASCENDING)], unique=True, sparse=True)
        self.tickets.create_index([("inbound_ids", ASCENDING)], unique=True, sparse=True)
        self.tickets.create_index([("incident.id", ASCENDING), ("number", ASCENDING)], sparse=True)
        self.incidents.create_index([("group", ASCENDING)], unique=True)
        self.incidents.create_index([("number", ASCENDING)], unique=True)
        # The periodic jobs: unacknowledged escalations, SLA clocks, auto-close.
        self.tickets.create_index([("escalation.last_alert_at", ASCENDING)], sparse=True)
        self.tickets.create_index([("sla_next_check", ASCENDING)], sparse=True)
        self.tickets.create_index([("status", ASCENDING), ("updated_at", ASCENDING)])
        # The auto-close: answered tickets quiet since a moment, resolved ones done since one.
        self.tickets.create_index([("status", ASCENDING), ("last_agent_reply_at", ASCENDING)])
        self.tickets.create_index([("status", ASCENDING), ("resolved_at", ASCENDING)])
        # What changed since a moment: a search rebuild's catch-up.
        self.tickets.create_index([("updated_at", ASCENDING)])
        self.tickets.create_index([("player.telegram_user_id", ASCENDING), ("number", DESCENDING)])
        # A Telegram player's open tickets (status `$in` the open ones).
        self.tickets.create_index(
            [("player.telegram_user_id", ASCENDING), ("status", ASCENDING), ("number", DESCENDING)]
        )
        self.tickets.create_index([("player.email", ASCENDING), ("number", DESCENDING)])
        # Create the counter up front, so racing first tickets never race to create it.
        self.counters.update_one(
            {"_id": NUMBER_COUNTER}, {"$setOnInsert": {"value": 0}}, upsert=True
        )
        if self.tickets.find_one({}, {"_id": 1}) is None:  # a new install: nothing to count
            self.counters.update_one(
                {"_id": COUNTS_MADE}, {"$setOnInsert": {"value": 1}}, upsert=True
            )

    @property
    def ticket_counts(self) -> Collection[Document]:
        """Tickets per status, one document per queue (see counts.py)."""
        return self.db["ticket_counts"]

    @property
    def incidents(self) -> Collection[Document]:
        return self.db["incidents"]

    @property
    def search_rebuilds(self) -> Collection[Document]:
        """The checkpoint and lease of a running search rebuild (see search/rebuild.py)."""
        return self.db["search_rebuilds"]

    def latest_number(self, counter: str = NUMBER_COUNTER) -> int:
        """The number taken last (0 before the first)."""
        doc = self.counters.find_one({"_id": counter})
        return int(doc["value"]) if doc is not None else 0

    def next_number(self, counter: str = NUMBER_COUNTER) -> int:
        """Atomically take the next number; a number once taken is never reused."""
        for _ in range(5):
            try:
                doc = self.counters.find_one_and_update(
                    {"_id": counter},
                    {"$inc": {"value": 1}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:  # two first-ever upserts raced; the loser retries
                continue
            if doc is not None:
                return int(doc["value"])
        raise RuntimeError("could not take a ticket number")


def save_entries(store: Store, entries: list[HistoryEntry], **extra: Any) -> None:
    """Store history entries idempotently; fields a delivery added (`extra`) are kept."""
    if not entries:
        return
    store.history.bulk_write(
        [
            UpdateOne({"_id": e.id}, {"$set": {**entry_document(e), **extra}}, upsert=True)
            for e in entries
        ],
        ordered=False,
    )


def to_ticket(doc: Document) -> Ticket:
    fields = {k: v for k, v in doc.items() if k in Ticket.model_fields}
    return Ticket(id=str(doc["_id"]), **fields)


def to_entry(doc: Document) -> HistoryEntry:
    fields = {k: v for k, v in doc.items() if k in HistoryEntry.model_fields}
    fields["ticket_id"] = str(doc["ticket_id"])
    return HistoryEntry(id=str(doc["_id"]), **fields)


def entry_document(entry: HistoryEntry) -> Document:
    doc = entry.model_dump(mode="python", exclude={"id"})
    doc["_id"] = entry.id
    doc["ticket_id"] = ObjectId(entry.ticket_id)
    doc["is_message"] = entry.message is not None
    return doc
