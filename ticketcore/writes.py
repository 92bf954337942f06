"""How one action becomes one atomic ticket update, and how its history entry is rebuilt.

An action is written as a single aggregation-pipeline update: the new field values, the
version bump and the effects owed all land in one document write. The server also copies
the touched fields' values before and after into the history record it appends to the
outbox, so the history entry is exact even when the new value was computed by the server
(a reopened status) and even when it is rebuilt by a worker after a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from ticketcore.lifecycle import REOPENED_BY_PLAYER, Status
from ticketcore.models import Actor, Change, HistoryEntry, Message
from ticketcore.outbox import HISTORY_STORE, new_record
from ticketcore.store import Document

# Fields whose changes the history records; the rest (timestamps, counters) are derived.
TRACKED = ("subject", "status", "priority", "assignee", "queue", "tags", "merged_into", "player")


def lit(value: Any) -> Document:
    """Wrap a value so the server never reads player text like "$100" as a field path."""
    return {"$literal": value}


def previous(name: str) -> str:
    return f"${name}"


@dataclass(frozen=True)
class Action:
    """One thing someone did to a ticket, with the field values it sets as expressions."""

    event: str
    actor: Actor
    at: datetime
    sets: Mapping[str, Any] = field(default_factory=dict)
    message: Message | None = None


def status_fields(target: Status, at: datetime) -> dict[str, Any]:
    """The fields that move with a status: the open flag and the lifecycle timestamps."""
    fields: dict[str, Any] = {
        "status": lit(target.value),
        "active": lit(target is not Status.CLOSED),
    }
    if target is Status.RESOLVED:
        fields["resolved_at"] = lit(at)
    elif target is Status.CLOSED:
        fields["closed_at"] = lit(at)
        fields["resolved_at"] = {"$ifNull": [previous("resolved_at"), lit(at)]}
    else:
        fields["resolved_at"] = lit(None)
    return fields


def reopen_on_player_message() -> dict[str, Any]:
    """Server-side twin of lifecycle.status_after_player_message (a test holds them equal)."""
    reopen = {
        "$cond": [
            {"$ifNull": [previous("assignee"), False]},
            Status.INPROGRESS.value,
            Status.NEW.value,
        ]
    }
    is_reopened = {"$in": [previous("status"), sorted(s.value for s in REOPENED_BY_PLAYER)]}
    return {
        "status": {"$cond": [is_reopened, reopen, previous("status")]},
        "resolved_at": {"$cond": [is_reopened, None, previous("resolved_at")]},
    }


def entry_record(action: Action, entry_id: str) -> Document:
    """The outbox record that carries the history entry until it is stored on its own."""
    record = new_record(HISTORY_STORE, entry_id, action.at)
    record["payload"] = {
        "event": action.event,
        "actor": action.actor.model_dump(mode="python"),
        "at": action.at,
        "message": action.message.model_dump(mode="python") if action.message else None,
    }
    return record


def pipeline(action: Action, entry_id: str, effects: Sequence[str]) -> list[Document]:
    """The single-stage update pipeline that applies `action` and owes `effects`."""
    tracked = [f for f in TRACKED if f in action.sets]
    history = {
        "$mergeObjects": [
            lit(entry_record(action, entry_id)),
            {
                "seq": {"$add": [{"$ifNull": [previous("version"), 0]}, 1]},
                "before": {f: previous(f) for f in tracked},
                "after": {f: action.sets[f] for f in tracked},
            },
        ]
    }
    records = [history, *(lit(new_record(kind, entry_id, action.at)) for kind in effects)]
    sets = dict(action.sets)
    if action.message is not None:
        sets["message_count"] = {"$add": [{"$ifNull": [previous("message_count"), 0]}, 1]}
    return [
        {
            "$set": {
                **sets,
                "updated_at": lit(action.at),
                "version": {"$add": [{"$ifNull": [previous("version"), 0]}, 1]},
                "outbox": {"$concatArrays": [{"$ifNull": [previous("outbox"), []]}, records]},
            }
        }
    ]


def new_entry_id() -> str:
    return str(ObjectId())


def entry_from_record(ticket: Document, record: Document) -> HistoryEntry:
    """Rebuild the history entry from its outbox record; the same on every path."""
    payload = record["payload"]
    before: Document = record.get("before", {})
    after: Document = record.get("after", {})
    changes = tuple(
        Change(field=name, old=before.get(name), new=after[name])
        for name in TRACKED
        if name in after and before.get(name) != after[name]
    )
    return HistoryEntry(
        id=record["entry_id"],
        ticket_id=str(ticket["_id"]),
        number=ticket["number"],
        seq=record.get("seq", 1),
        event=payload["event"],
        actor=payload["actor"],
        at=payload["at"],
        message=payload["message"],
        changes=changes,
    )


def is_worth_keeping(entry: HistoryEntry) -> bool:
    """An action that changed nothing and said nothing leaves no history."""
    return entry.message is not None or bool(entry.changes) or entry.event == "ticket.created"
