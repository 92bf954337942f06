"""What each action does to a ticket, as pure functions, and how a change is written.

A write reads the ticket, decides the new field values here in Python (the lifecycle
table is the only judge of a status move), and stores them with a compare-and-set on the
ticket's version. The same single-document update appends the history entry and every
effect the change owes to the ticket's outbox, so a crash keeps all of it or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from ticketcore import lifecycle
from ticketcore.events import Event
from ticketcore.lifecycle import Status
from ticketcore.models import (
    MAX_SUBJECT,
    MAX_TAG,
    Actor,
    ActorKind,
    Attachment,
    Change,
    Channel,
    HistoryEntry,
    Message,
    MessageKind,
    Player,
    Ticket,
)
from ticketcore.outbox import HISTORY_STORE, new_record
from ticketcore.store import Document

# Fields whose changes the history records; the rest (timestamps, counters) are derived.
TRACKED = (
    "subject",
    "status",
    "priority",
    "assignee",
    "queue",
    "tags",
    "merged_into",
    "player",
    "csat",
    "delivery_problem",
)

# How many inbound ids a ticket keeps. Platforms resend what they think was not taken,
# which is always among a chat's newest messages; a ticket's long history need not be
# kept to refuse those, and the document stays small however long the conversation.
MAX_INBOUND_IDS = 200

# What the KPI report (ticketcore/stats) reads of a ticket's past, kept on the ticket and
# appended by the same update as the change, so it never lags behind the status the way
# the history does while the worker is behind. Records stay small: a time and two words.
STATUS_MOVES = "status_moves"  # {at, old, new} of every change of status, oldest first
AGENT_REPLIES = "agent_replies"  # {at, by} of every reply an agent sent, oldest first


@dataclass(frozen=True)
class Action:
    """One thing someone did to a ticket, with the new values of the fields it sets."""

    event: Event
    actor: Actor
    at: datetime
    updates: Mapping[str, Any] = field(default_factory=dict)
    message: Message | None = None
    edit_of: str | None = None
    # Values added to array fields ($addToSet), for arrays that others also add to
    # without a change of version (the Message-Ids a mail delivery records).
    adds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    # The platform's id of the message this action stores (Ticket.inbound_ids): the
    # action is declined if the ticket has it already.
    inbound_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A decided change: the ticket after it, its history entry, and the Mongo update."""

    ticket: Ticket
    entry: HistoryEntry
    update: Document
    keys: tuple[str, ...]  # the outbox records it appends, history first


# ------------------------------------------------------------------ decisions


def status_updates(current: Ticket, target: Status, at: datetime) -> dict[str, Any]:
    """Move to `target` (or stay), with the timestamps that go with it."""
    if target is current.status:
        return {}
    lifecycle.check_transition(current.number, current.status, target)
    updates: dict[str, Any] = {"status": target}
    if target is Status.RESOLVED:
        updates["resolved_at"] = at
    elif target is Status.CLOSED:
        updates["closed_at"] = at
        updates["resolved_at"] = current.resolved_at or at
    else:
        updates["resolved_at"] = None
    return updates


def player_message_updates(current: Ticket, at: datetime) -> dict[str, Any]:
    target = lifecycle.status_after_player_message(
        current.status, is_assigned=current.assignee is not None
    )
    updates: dict[str, Any] = {"last_player_message_at": at}
    if target is not current.status:
        updates.update(status=target, resolved_at=None)
    return updates


def reply_updates(current: Ticket, target: Status, at: datetime) -> dict[str, Any]:
    return {
        **status_updates(current, target, at),
        "first_response_at": current.first_response_at or at,
        "last_agent_reply_at": at,
    }


def take_updates(current: Ticket, actor: Actor) -> dict[str, Any]:
    updates: dict[str, Any] = {"assignee": actor.id}
    target = lifecycle.status_after_take(current.status)
    if target is not current.status:
        updates["status"] = target
    return updates


# ------------------------------------------------------------------ writing


def new_entry_id() -> str:
    return str(ObjectId())


def stored(value: Any) -> Any:
    """A model value as MongoDB keeps it."""
    if isinstance(value, tuple):
        return [stored(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="python")
    return value


def diff(before: Ticket, after: Ticket) -> tuple[Change, ...]:
    return tuple(
        Change(field=name, old=stored(getattr(before, name)), new=stored(getattr(after, name)))
        for name in TRACKED
        if getattr(before, name) != getattr(after, name)
    )


def timeline_records(entry: HistoryEntry) -> dict[str, Document]:
    """What one history entry adds to the ticket's STATUS_MOVES and AGENT_REPLIES. Read
    from the entry, so a live write and the backfill from stored history agree."""
    records: dict[str, Document] = {}
    status = next((c for c in entry.changes if c.field == "status"), None)
    if status is not None:
        old, new = Status(status.old).value, Status(status.new).value
        records[STATUS_MOVES] = {"at": entry.at, "old": old, "new": new}
    if entry.event == Event.REPLY_SENT and entry.actor.kind is ActorKind.AGENT:
        records[AGENT_REPLIES] = {"at": entry.at, "by": entry.actor.id}
    return records


def entry_record(entry: HistoryEntry, effects: Sequence[str]) -> list[Document]:
    """The outbox records of one change: its history entry first, then its effects."""
    history = new_record(HISTORY_STORE, entry.id, entry.at)
    history["payload"] = {"entry": entry.model_dump(mode="python")}
    return [history, *(new_record(kind, entry.id, entry.at) for kind in effects)]


def outcome(current: Ticket, action: Action, effects: Sequence[str]) -> Outcome:
    """Apply `action` to `current` in memory and build the one update that stores it."""
    counters = {"message_count": current.message_count + 1} if action.message else {}
    added = {
        name: (*getattr(current, name), *(v for v in values if v not in getattr(current, name)))
        for name, values in action.adds.items()
    }
    if action.inbound_id is not None:
        added["inbound_ids"] = (*current.inbound_ids, action.inbound_id)[-MAX_INBOUND_IDS:]
    after = current.model_copy(
        update={
            **action.updates,
            **counters,
            **added,
            "updated_at": action.at,
            "version": current.version + 1,
        }
    )
    entry = HistoryEntry(
        id=new_entry_id(),
        ticket_id=current.id,
        number=current.number,
        seq=after.version,
        event=action.event,
        actor=action.actor,
        at=action.at,
        message=action.message,
        changes=diff(current, after),
        edit_of=action.edit_of,
        data=dict(action.data),
    )
    fields = {name: stored(getattr(after, name)) for name in (*action.updates, *counters)}
    if "status" in action.updates:
        fields["active"] = after.status is not Status.CLOSED
    if "player" in action.updates:
        fields["player_key"] = after.player.key()
    records = entry_record(entry, effects)
    update: Document = {
        "$set": {**fields, "updated_at": action.at, "version": after.version},
        "$push": {"outbox": {"$each": records}, **timeline_records(entry)},
    }
    if action.inbound_id is not None:
        update["$push"]["inbound_ids"] = {"$each": [action.inbound_id], "$slice": -MAX_INBOUND_IDS}
    if action.adds:
        update["$addToSet"] = {name: {"$each": list(v)} for name, v in action.adds.items()}
    return Outcome(after, entry, update, tuple(r["key"] for r in records))


def entry_from_record(record: Document) -> HistoryEntry:
    return HistoryEntry.model_validate(record["payload"]["entry"])


def is_worth_keeping(entry: HistoryEntry) -> bool:
    """An action that changed nothing and said nothing leaves no history."""
    return (
        entry.message is not None
        or bool(entry.changes)
        or bool(entry.data)
        or entry.event == Event.TICKET_CREATED
    )


# ------------------------------------------------------------------ small decisions


def subject_from(text: str) -> str:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    subject = first_line or "(no subject)"
    return subject if len(subject) <= MAX_SUBJECT else subject[: MAX_SUBJECT - 1] + "…"


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    cleaned = sorted({t.strip().lower() for t in tags if t.strip()})
    for tag in cleaned:
        if len(tag) > MAX_TAG:
            raise ValueError(f"tag is longer than {MAX_TAG} characters: {tag[:20]}…")
    return tuple(cleaned)


def player_actor(player: Player, channel: Channel, *, via: str | None = None) -> Actor:
    """The player as the author of their words; `via` what carried them in, if not the
    channel itself (an API key's name)."""
    return Actor(
        kind=ActorKind.PLAYER, id=player.key(), name=player.display_name, via=via or channel
    )


def player_message(
    channel: Channel,
    text: str,
    html: str | None,
    attachments: Sequence[Attachment],
    external_id: str | None = None,
    original_ref: str | None = None,
) -> Message:
    return Message(
        kind=MessageKind.PLAYER,
        channel=channel,
        text=text,
        html=html,
        attachments=tuple(attachments),
        external_id=external_id,
        original_ref=original_ref,
    )


def event_for(updates: Document) -> Event:
    """Name a field change for flows and history: one field, its own name; several, generic."""
    names = {
        "status": Event.STATUS_CHANGED,
        "priority": Event.PRIORITY_CHANGED,
        "assignee": Event.ASSIGNED,
        "queue": Event.QUEUE_CHANGED,
        "tags": Event.TAGS_CHANGED,
    }
    events = [event for name, event in names.items() if name in updates]
    return events[0] if len(events) == 1 else Event.UPDATED
