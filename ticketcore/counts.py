"""How many tickets each queue holds in each status, kept as tickets are written.

Counted when asked, the embedded server read every ticket of each status, and the closed
ones are nearly all of a year's store: seconds for every Home tab, every `/ticket queue`
(which Slack gives three seconds) and every metrics scrape. So the writer moves a ticket
from one count to another as it writes a new status or queue, and a question reads one
small document per queue.

The ticket and its count are two writes. A process killed between them leaves a count
one off until `recount` (`helpdesk stats --backfill`) counts again from the tickets; an
install that has tickets and no counts yet is counted once, at its first question.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ticketcore.lifecycle import Status
from ticketcore.models import Ticket
from ticketcore.store import COUNTS_MADE, Document, Store

NO_QUEUE = ""  # the count document of tickets in no queue


@dataclass(frozen=True)
class TicketCounts:
    store: Store

    def opened(self, ticket: Ticket) -> None:
        self._add(ticket.queue, {ticket.status: 1})

    def moved(self, before: Ticket, after: Ticket) -> None:
        """Move a ticket between counts if its write changed its status or its queue."""
        if (before.status, before.queue) == (after.status, after.queue):
            return
        if before.queue == after.queue:
            self._add(after.queue, {before.status: -1, after.status: 1})
            return
        self._add(before.queue, {before.status: -1})
        self._add(after.queue, {after.status: 1})

    def by_status(self, *, queue: str | None = None) -> dict[Status, int]:
        """Tickets in each status, in one queue or in all of them."""
        self._count_once()
        query: Document = {} if queue is None else {"_id": queue}
        totals: Counter[str] = Counter()
        for doc in self.store.ticket_counts.find(query):
            totals.update({k: v for k, v in doc.items() if k != "_id"})
        return {status: max(0, totals[status.value]) for status in Status}

    def recount(self) -> None:
        """Count every ticket again (reads them all: for a start, or to repair a count a
        crash left off)."""
        rows = self.store.tickets.aggregate(
            [{"$group": {"_id": {"queue": "$queue", "status": "$status"}, "n": {"$sum": 1}}}]
        )
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            queue = row["_id"].get("queue") or NO_QUEUE
            counts.setdefault(queue, {})[row["_id"]["status"]] = int(row["n"])
        self.store.ticket_counts.delete_many({"_id": {"$nin": list(counts)}})
        for queue, by_status in counts.items():
            self.store.ticket_counts.replace_one({"_id": queue}, by_status, upsert=True)
        self.store.counters.update_one({"_id": COUNTS_MADE}, {"$set": {"value": 1}}, upsert=True)

    def _count_once(self) -> None:
        if self.store.counters.find_one({"_id": COUNTS_MADE}) is None:
            self.recount()

    def _add(self, queue: str | None, by: dict[Status, int]) -> None:
        change = {status.value: n for status, n in by.items()}
        self.store.ticket_counts.update_one(
            {"_id": queue or NO_QUEUE}, {"$inc": change}, upsert=True
        )
