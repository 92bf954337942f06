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
from typing import Any, Literal

from bson import ObjectId
from pydantic import BaseModel, ConfigDict
from pymongo.errors import DuplicateKeyError

from ticketcore.lifecycle import DONE_STATUSES
from ticketcore.store import Document, Store

INCIDENT_COUNTER = "incident_number"
OPEN, RESOLVED = "open", "resolved"
ActionKind = Literal["reply", "resolve"]


class IncidentAction(BaseModel):
    """What the team does to every ticket of an incident, recorded before a job does it."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: ActionKind
    actor: str  # the Slack user id of the lead
    at: datetime
    text: str | None = None  # a reply's text
    done_at: datetime | None = None  # every ticket has had it


class Incident(BaseModel):
    """One storm of similar tickets. The tickets link to it (`ticket.incident`); its card's
    state lives here: where it is posted, what each place shows, when it was drawn."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    number: int
    group: str  # the storm window's name for the burst: one incident per group
    queue: str | None = None
    title: str
    status: Literal["open", "resolved"] = "open"
    started_at: datetime
    updated_at: datetime
    refs: dict[str, str] = {}  # place ("triage", "leads") -> "channel:ts" of its card
    actions: tuple[IncidentAction, ...] = ()
    drawn_at: datetime | None = None
    shown: dict[str, dict[str, Any]] = {}  # place -> the counts its card shows
    posting: dict[str, datetime] = {}  # place -> when its card's post was first tried

    @property
    def link(self) -> dict[str, Any]:
        """What a ticket of the incident keeps of it."""
        return {"id": self.id, "number": self.number}

    def action(self, action_id: str) -> IncidentAction | None:
        return next((a for a in self.actions if a.id == action_id), None)


def to_incident(doc: Document) -> Incident:
    return Incident.model_validate({**doc, "id": str(doc["_id"])})


class Incidents:
    def __init__(self, store: Store) -> None:
        self.store = store

    def open_for(self, group: str, *, queue: str | None, title: str, now: datetime) -> Incident:
        """The incident of a burst, opened by the first worker that sees it start."""
        existing = self.store.incidents.find_one({"group": group})
        if existing is not None:
            return to_incident(existing)
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
            return to_incident(found)
        return to_incident(doc)

    def get(self, incident_id: str) -> Incident | None:
        doc = self.store.incidents.find_one({"_id": ObjectId(incident_id)})
        return to_incident(doc) if doc is not None else None

    def by_number(self, number: int) -> Incident | None:
        doc = self.store.incidents.find_one({"number": number})
        return to_incident(doc) if doc is not None else None

    def posting(self, incident_id: str, place: str, now: datetime) -> None:
        """Note that the card's post in `place` is being tried: a retry that finds the note
        looks in Slack for a card an earlier try may have posted."""
        self._set(incident_id, {f"posting.{place}": now})

    def drawn(
        self,
        incident_id: str,
        place: str,
        shown: dict[str, Any],
        ref: str | None = None,
    ) -> None:
        """Save what the card in `place` now shows (and where it is, once posted)."""
        self._set(incident_id, {f"shown.{place}": shown} | ({f"refs.{place}": ref} if ref else {}))

    def redrawn(self, incident_id: str, now: datetime) -> None:
        self._set(incident_id, {"drawn_at": now})

    def _set(self, incident_id: str, fields: Document) -> None:
        self.store.incidents.update_one({"_id": ObjectId(incident_id)}, {"$set": fields})

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
        self,
        incident_id: str,
        kind: ActionKind,
        *,
        actor: str,
        now: datetime,
        text: str | None = None,
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
