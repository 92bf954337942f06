"""The durable outbox: effects owed by a ticket, stored inside the ticket document itself.

Every change writes the ticket and the effects it owes in one atomic single-document
update, so a crash can never keep one without the other. A worker claims an effect by
pushing its `due_at` forward (a lease); if the worker dies, the effect falls due again
and the sweeper hands it to another worker. A delivered effect is pulled off the ticket.
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from ticketcore.store import Document, Store, at_or_before, is_set

HISTORY_STORE = "history.store"
# How long a claim holds an effect unless renewed: the work renews it while it goes on
# (jobs.lease), so a dead worker's effects are another's this soon, and the sweeper hands
# them over at its next round: within 30 s with the default sweep every 10 s.
LEASE = timedelta(seconds=15)
MAX_ATTEMPTS = 12
# Retry delays grow to about an hour, so a platform outage of a day is ridden out.
BACKOFF: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
)


@dataclass(frozen=True)
class Owed:
    """One pending effect, named by its ticket and its idempotency key; `lease`, the token
    of the claim that holds it. A worker that outlived its lease (a long pause, a slow
    call) holds a stale token: what it then completes, fails or postpones changes nothing,
    since another worker owns the effect now. Without a token (the operator) it is not
    fenced."""

    ticket_id: str
    key: str
    lease: str | None = None


def lease_of(records: Iterable[Document]) -> str | None:
    """The token of the claim that leased `records` (one claim marks all it leases with
    one token); None if they were not leased by one claim."""
    tokens = {record.get("lease") for record in records}
    return tokens.pop() if len(tokens) == 1 else None


def held(key: object, lease: str | None) -> Document:
    """The records named by `key` (a key, or a condition on keys) that `lease` holds."""
    return {"key": key} | ({"lease": lease} if lease else {})


def effect_key(kind: str, entry_id: str) -> str:
    return f"{kind}:{entry_id}"


def new_record(kind: str, entry_id: str, at: datetime, payload: Document | None = None) -> Document:
    return {
        "key": effect_key(kind, entry_id),
        "kind": kind,
        "entry_id": entry_id,
        "due_at": at,
        "owed_at": at,  # due_at moves with leases and retries; this is when it was owed
        "attempts": 0,
        "payload": payload or {},
    }


def waiting(records: list[Document], kinds: Container[str]) -> dict[str, str]:
    """The key of one record of each of `kinds` that no worker holds yet and that has not
    given up, by kind: an effect whose carrying out is still all ahead of it."""
    found: dict[str, str] = {}
    for record in records:
        kind = record["kind"]
        unclaimed = not record.get("lease") and record.get("dead_at") is None
        if kind in kinds and kind not in found and unclaimed:
            found[kind] = record["key"]
    return found


def still_waiting(keys: Iterable[str]) -> Document:
    """A filter that holds while each of the records named is still unclaimed: a change that
    relies on them to act for it must not be stored once a worker has read the ticket for
    them (the worker would act on the ticket as it was before the change)."""
    return {"outbox": {"$all": [{"$elemMatch": {"key": key, "lease": None}} for key in keys]}}


def backoff(attempts: int, delays: Sequence[timedelta] = BACKOFF) -> timedelta:
    """The wait before the next try after `attempts` tries; the last delay repeats."""
    return delays[min(attempts, len(delays)) - 1]


class Outbox:
    def __init__(
        self, store: Store, lease: timedelta = LEASE, delays: Sequence[timedelta] = BACKOFF
    ) -> None:
        self.store = store
        self.lease = lease
        self.delays = tuple(delays) or BACKOFF

    def claim(self, owed: Owed, now: datetime) -> tuple[Document, Document] | None:
        """Lease one due effect; None if it is delivered, leased elsewhere or dead."""
        claimed = self.claim_many(owed.ticket_id, [owed.key], now)
        if claimed is None or not claimed[1]:
            return None
        return claimed[0], claimed[1][0]

    def claim_many(
        self, ticket_id: str, keys: list[str], now: datetime
    ) -> tuple[Document, list[Document]] | None:
        """Lease every due effect among `keys` of one ticket in one update; the ticket and
        the records this call leased (marked with its own token), or None if none was due."""
        token = uuid.uuid4().hex
        due = {"key": {"$in": keys}, "due_at": {"$lte": now}}
        # update_one then a read by _id: both use an index, where a findAndModify scans the
        # whole collection on the embedded server.
        leased = self.store.tickets.update_one(
            {"_id": ObjectId(ticket_id), "outbox": {"$elemMatch": due}},
            # due_at last: the embedded server checks the array filter again after each
            # field it sets, and the new due_at no longer passes it.
            {
                "$inc": {"outbox.$[e].attempts": 1},
                "$set": {"outbox.$[e].lease": token, "outbox.$[e].due_at": now + self.lease},
            },
            array_filters=[{f"e.{name}": value for name, value in due.items()}],
        )
        if leased.modified_count == 0:
            return None
        ticket = self.store.tickets.find_one({"_id": ObjectId(ticket_id)})
        if ticket is None:
            return None
        records = [r for r in ticket.get("outbox", []) if r.get("lease") == token]
        return ticket, records

    def claim_due(
        self, kind: str, now: datetime, tickets: Sequence[str]
    ) -> list[tuple[Document, list[Document]]]:
        """Lease the due effects of one kind of the named tickets: the tickets as read after
        the lease, each with the records this call leased. Two commands for the lot, where
        one ticket at a time costs two each and a job of its own.

        The caller names the tickets (jobs.drain keeps them as they owe): a search for due
        records would read every ticket, as no index serves a query on the outbox array
        on the embedded server, and on a day's tickets that read cost more than the drain."""
        if not tickets:
            return []
        ids = [ObjectId(ticket_id) for ticket_id in tickets]
        due = {"kind": kind, "due_at": {"$lte": now}}
        token = uuid.uuid4().hex
        # Nothing but the ids in either filter: any other condition makes the embedded
        # server read every ticket instead of using the _id index.
        self.store.tickets.update_many(
            {"_id": {"$in": ids}},
            {
                "$inc": {"outbox.$[e].attempts": 1},
                "$set": {"outbox.$[e].lease": token, "outbox.$[e].due_at": now + self.lease},
            },
            array_filters=[{f"e.{name}": value for name, value in due.items()}],
        )
        claimed = []
        for ticket in self.store.tickets.find({"_id": {"$in": ids}}):
            records = [r for r in ticket.get("outbox", []) if r.get("lease") == token]
            if records:
                claimed.append((ticket, records))
        return claimed

    def renew(self, ticket_ids: Sequence[str], lease: str, now: datetime) -> int:
        """Hold what `lease` claimed on these tickets for another lease from `now`: the work
        goes on. How many tickets it changed (a stale token changes none)."""
        renewed = self.store.tickets.update_many(
            {"_id": {"$in": [ObjectId(ticket_id) for ticket_id in ticket_ids]}},
            {"$set": {"outbox.$[e].due_at": now + self.lease}},
            array_filters=[{"e.lease": lease}],
        )
        return renewed.modified_count

    def complete_all(self, keys: dict[str, list[str]], *, lease: str | None = None) -> None:
        """Drop delivered effects of many tickets (ticket id -> keys) in one command; with
        `lease`, only those that claim still holds."""
        if not keys:
            return
        every = {"$in": [k for group in keys.values() for k in group]}
        self.store.tickets.update_many(
            {"_id": {"$in": [ObjectId(ticket_id) for ticket_id in keys]}},
            {"$pull": {"outbox": held(every, lease)}},
        )

    def complete(self, owed: Owed, result: Document | None = None) -> bool:
        """Drop a delivered effect, recording on the ticket what the effect produced; False
        (and nothing recorded) if the effect is no longer held by `owed.lease`."""
        mine = held(owed.key, owed.lease)
        update: Document = {"$pull": {"outbox": mine}}
        if result:
            update["$set"] = result
        done = self.store.tickets.update_one(
            {"_id": ObjectId(owed.ticket_id), "outbox": {"$elemMatch": mine}}, update
        )
        return done.modified_count > 0

    def complete_many(self, ticket_id: str, keys: list[str], *, lease: str | None = None) -> None:
        """Drop these delivered effects; with `lease`, only those that claim still holds."""
        self.store.tickets.update_one(
            {"_id": ObjectId(ticket_id)}, {"$pull": {"outbox": held({"$in": keys}, lease)}}
        )

    def fail(self, owed: Owed, attempts: int, error: str, now: datetime) -> bool:
        """Schedule a retry with backoff; after MAX_ATTEMPTS park it as dead. True if dead.
        A stale lease changes nothing (and the effect is not dead: its owner carries on)."""
        if attempts >= MAX_ATTEMPTS:
            return self._set(owed, {"due_at": None, "dead_at": now, "last_error": error[:500]})
        retry = now + backoff(attempts, self.delays)
        self._set(owed, {"due_at": retry, "last_error": error[:500], "lease": None})
        return False

    def postpone(self, owed: Owed, until: datetime, reason: str) -> bool:
        """Come back later without counting an attempt (a platform's rate limit). The lease
        is given up: a waiting effect is told apart from one a worker holds by it. False if
        `owed.lease` no longer holds it."""
        fields = {"due_at": until, "last_error": reason[:500], "lease": None}
        return self._set(owed, fields, inc={"attempts": -1})

    def _set(self, owed: Owed, fields: Document, inc: Document | None = None) -> bool:
        """Set fields of the record `owed` names, if `owed.lease` still holds it."""
        # $inc first and the lease last: the embedded server checks the array filter again
        # after each field it changes, and a record whose lease is given up no longer
        # passes a filter on the lease.
        update: Document = {"$inc": {f"outbox.$[e].{k}": v for k, v in (inc or {}).items()}}
        update["$set"] = {f"outbox.$[e].{name}": value for name, value in fields.items()}
        if not inc:
            del update["$inc"]
        mine = {f"e.{name}": value for name, value in held(owed.key, owed.lease).items()}
        changed = self.store.tickets.update_one(
            {"_id": ObjectId(owed.ticket_id)}, update, array_filters=[mine]
        )
        return changed.modified_count > 0

    def overdue(self, cutoff: datetime, now: datetime, limit: int = 1000) -> Iterator[Owed]:
        """Effects whose job was lost (due before `cutoff`: a job dispatched a moment ago
        may still be on its way) or whose claim's lease ran out (due before `now`: the
        worker that held it died or stalled, and no job is on its way).

        Two bounded reads, so that the effects of the last grace period, most of them on
        their way, never fill the limit in place of the ones long overdue."""
        yield from self._due(at_or_before(cutoff), limit, leased_only=False)
        yield from self._due({"$gt": cutoff, "$lte": now}, limit, leased_only=True)

    def _due(self, due_at: Document, limit: int, *, leased_only: bool) -> Iterator[Owed]:
        fields = {"outbox.key": 1, "outbox.due_at": 1, "outbox.lease": 1}
        tickets = self.store.tickets.find({"outbox.due_at": due_at}, fields).limit(limit)
        low, high = due_at.get("$gt"), due_at["$lte"]
        for ticket in tickets:
            for record in ticket["outbox"]:
                due = record.get("due_at")
                if due is None or due > high or (low is not None and due <= low):
                    continue
                if record.get("lease") or not leased_only:
                    yield Owed(str(ticket["_id"]), record["key"])

    def dead(self, *, limit: int = 100) -> list[Document]:
        """Effects that gave up, newest first: ticket number, kind, attempts, last error."""
        rows = self.store.tickets.aggregate(
            [
                {"$match": {"outbox.dead_at": is_set()}},
                {"$unwind": "$outbox"},
                {"$match": {"outbox.dead_at": is_set()}},
                {"$sort": {"outbox.dead_at": -1}},
                {"$limit": limit},
                {
                    "$project": {
                        "_id": 0,
                        "number": 1,
                        "kind": "$outbox.kind",
                        "key": "$outbox.key",
                        "attempts": "$outbox.attempts",
                        "dead_at": "$outbox.dead_at",
                        "last_error": "$outbox.last_error",
                    }
                },
            ]
        )
        return list(rows)

    def revive(self, now: datetime, *, kind: str | None = None) -> int:
        """Make dead effects (of one kind, or all) owed again with fresh attempts, due now:
        the sweeper hands them to the workers. How many tickets had any."""
        match: Document = {"e.dead_at": {"$ne": None}}
        if kind is not None:
            match["e.kind"] = kind
        ticket_match: Document = {"outbox": {"$elemMatch": {"dead_at": {"$ne": None}}}}
        if kind is not None:
            ticket_match["outbox"]["$elemMatch"]["kind"] = kind
        revived = self.store.tickets.update_many(
            ticket_match,
            {
                "$set": {"outbox.$[e].due_at": now, "outbox.$[e].attempts": 0},
                "$unset": {"outbox.$[e].dead_at": ""},
            },
            array_filters=[match],
        )
        return int(revived.modified_count)

    def counts(self) -> dict[str, int]:
        """How many effects are pending and how many gave up, for health checks: each
        read through its own index, so only tickets that owe something are read."""
        return {
            "pending": self._records_with("due_at"),
            "dead": self._records_with("dead_at"),
        }

    def _records_with(self, date: str) -> int:
        """How many outbox records have `date` set, over all tickets."""
        rows = self.store.tickets.aggregate(
            [
                {"$match": {f"outbox.{date}": is_set()}},
                {"$unwind": "$outbox"},
                {"$match": {f"outbox.{date}": is_set()}},
                {"$count": "n"},
            ]
        )
        return sum(int(row["n"]) for row in rows)
