"""Notices owed to a player outside any ticket (a code to confirm an address, word that
their game account moved to another Telegram user): the outbox of the player record.

As with a ticket's outbox, the change and the notice it owes are one single-document
write; a worker leases a notice by pushing its `due_at` forward, a delivered one is pulled
off the record, and a failed one comes back with the same backoff.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from bson import ObjectId

from ticketcore.outbox import BACKOFF, LEASE, MAX_ATTEMPTS, backoff
from ticketcore.store import Document, Store, at_or_before

EMAIL_CODE = "mail.email_code"  # mail a code that proves the player reads an address
TELEGRAM_REBOUND = "telegram.rebound"  # tell a chat its game account was bound elsewhere
NOTICE_KINDS = (EMAIL_CODE, TELEGRAM_REBOUND)


def new_notice(kind: str, at: datetime, payload: Document) -> Document:
    """A pending notice, to `$push` onto `notices` in the change that owes it."""
    return {
        "key": f"{kind}:{uuid.uuid4().hex}",
        "kind": kind,
        "due_at": at,
        "owed_at": at,
        "attempts": 0,
        "payload": payload,
    }


class Notices:
    def __init__(
        self, store: Store, lease: timedelta = LEASE, delays: Sequence[timedelta] = BACKOFF
    ) -> None:
        self.store = store
        self.lease = lease
        self.delays = tuple(delays) or BACKOFF

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of player records owing a notice due by `now`."""
        found = self.store.players.find({"notices.due_at": at_or_before(now)}, {"_id": 1})
        return [str(doc["_id"]) for doc in found.limit(limit)]

    def claim(self, record_id: str, now: datetime) -> tuple[Document, list[Document]]:
        """Lease the record's due notices: the record, and the notices this call leased."""
        token = uuid.uuid4().hex
        self.store.players.update_one(
            {"_id": ObjectId(record_id)},
            {
                "$inc": {"notices.$[n].attempts": 1},
                "$set": {"notices.$[n].lease": token, "notices.$[n].due_at": now + self.lease},
            },
            array_filters=[{"n.due_at": {"$lte": now}}],
        )
        record = self.store.players.find_one({"_id": ObjectId(record_id)}) or {}
        return record, [n for n in record.get("notices", []) if n.get("lease") == token]

    def complete(self, record_id: str, key: str) -> None:
        self.store.players.update_one(
            {"_id": ObjectId(record_id)}, {"$pull": {"notices": {"key": key}}}
        )

    def fail(self, record_id: str, notice: Document, error: str, now: datetime) -> bool:
        """Come back after the backoff; after MAX_ATTEMPTS park it as dead. True if dead."""
        attempts = int(notice["attempts"])
        fields: Document = {"due_at": now + backoff(attempts, self.delays), "lease": None}
        if attempts >= MAX_ATTEMPTS:
            fields = {"due_at": None, "dead_at": now}
        return self._set(record_id, notice["key"], {**fields, "last_error": error[:500]})

    def postpone(self, record_id: str, notice: Document, until: datetime, reason: str) -> None:
        """Come back at `until` without counting an attempt (a platform's rate limit)."""
        attempts = int(notice["attempts"]) - 1
        fields = {"due_at": until, "lease": None, "last_error": reason[:500], "attempts": attempts}
        self._set(record_id, notice["key"], fields)

    def _set(self, record_id: str, key: str, fields: Document) -> bool:
        self.store.players.update_one(
            {"_id": ObjectId(record_id)},
            {"$set": {f"notices.$[n].{name}": value for name, value in fields.items()}},
            array_filters=[{"n.key": key}],
        )
        return fields.get("dead_at") is not None

    def pending(self) -> Iterator[Document]:
        """Every notice still owed, delivered or not yet (for health checks and tests)."""
        for record in self.store.players.find({"notices.0": {"$exists": True}}, {"notices": 1}):
            yield from record["notices"]
