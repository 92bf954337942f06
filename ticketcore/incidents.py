"""Incidents: one storm of similar tickets, grouped so agents and leads see one thing.

Tickets keep their own history; an incident links them (`ticket.incident`), counts them,
and carries what the team does to all of them at once: one reply to every player, one
resolve. Those are recorded here first and carried out by a job ticket by ticket, each
ticket at most once, so a job that dies half-way is simply run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ticketcore.lifecycle import DONE_STATUSES
from ticketcore.store import Document, Store

INCIDENT_COUNTER = "incident_number"
OPEN, RESOLVED = "open", "resolved"


class Incidents:
    def __init__(self, store: Store) -> None:
        self.store = store

    def open_for(self, group: str, *, queue: str | None, title: str, now: datetime) -> Document:
        """The incident of a burst, opened by the first worker that sees it start."""
        existing = self.store.incidents.find_one({"group": group})
        if existing is not None:
            return existing
        doc = {
            "_id": ObjectId(),
            "number": self.store.next_number(INCIDENT_COUNTER),
            "group": group,
            "queue": queue,
            "title": title[:200],
            "status": OPEN,
            "started_at": now,
            "updated_at": now,
            "refs": {},
            "actions": [],
        }
        try:
            self.store.incidents.insert_one(doc)
        except DuplicateKeyError:  # another worker opened it at the same moment
            found = self.store.incidents.find_one({"group": group})
            assert found is not None
            return found
        return doc

    def get(self, incident_id: str) -> Document | None:
        return self.store.incidents.find_one({"_id": ObjectId(incident_id)})

    def by_number(self, number: int) -> Document | None:
        return self.store.incidents.find_one({"number": number})

    def count(self, incident_id: str) -> int:
        return self.store.tickets.count_documents({"incident.id": incident_id})

    def open_count(self, incident_id: str) -> int:
        return self.store.tickets.count_documents(
            {"incident.id": incident_id, "status": {"$nin": [*DONE_STATUSES]}}
        )

    def ticket_numbers(self, incident_id: str) -> Iterator[int]:
        for doc in self.store.tickets.find({"incident.id": incident_id}, {"number": 1}).sort(
            "number", 1
        ):
            yield int(doc["number"])

    def record_action(
        self, incident_id: str, kind: str, *, actor: str, now: datetime, text: str | None = None
    ) -> str:
        """Note what the team does to every ticket of the incident ("reply", "resolve"),
        before a job does it; the id names it on each ticket, so it is done once each."""
        action_id = uuid.uuid4().hex[:16]
        action: dict[str, Any] = {
            "id": action_id,
            "kind": kind,
            "actor": actor,
            "at": now,
            "text": text,
            "done_at": None,
        }
        update: dict[str, Any] = {"$push": {"actions": action}, "$set": {"updated_at": now}}
        if kind == "resolve":
            update["$set"]["status"] = RESOLVED
        self.store.incidents.update_one({"_id": ObjectId(incident_id)}, update)
        return action_id

    def finish_action(self, incident_id: str, action_id: str, now: datetime) -> None:
        self.store.incidents.update_one(
            {"_id": ObjectId(incident_id)},
            {"$set": {"actions.$[a].done_at": now}},
            array_filters=[{"a.id": action_id}],
        )

    def unfinished(self, before: datetime) -> Iterator[tuple[str, str]]:
        """(incident, action) pairs recorded before `before` and still not done: their job
        was lost; the periodic job runs them again."""
        for doc in self.store.incidents.find(
            {"actions": {"$elemMatch": {"done_at": None, "at": {"$lte": before}}}},
            {"actions": 1},
        ):
            for action in doc["actions"]:
                if action.get("done_at") is None and action["at"] <= before:
                    yield str(doc["_id"]), action["id"]
