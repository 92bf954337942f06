"""Filling the report's records on tickets written before they existed.

Every change since appends its status move and agent reply to the ticket itself
(`writes.timeline_records`). A ticket written before has neither array; this rebuilds
both from its history, stored and still carried in its outbox, with the same function a
live write uses, so the two cannot differ. Safe to run again, and while the helpdesk runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from ticketcore.events import Event
from ticketcore.lifecycle import Status
from ticketcore.models import HistoryEntry
from ticketcore.queries import carried_entries
from ticketcore.store import Document, Store, to_entry
from ticketcore.writes import AGENT_REPLIES, STATUS_MOVES, timeline_records

BATCH = 500
ATTEMPTS = 5

# Lacking either array; or holding only the records of changes since the upgrade, which
# is seen from a first move that does not leave `new`, where every ticket starts.
NEEDS_FILLING: Document = {
    "$or": [
        {STATUS_MOVES: {"$exists": False}},
        {AGENT_REPLIES: {"$exists": False}},
        {f"{STATUS_MOVES}.0.old": {"$exists": True, "$ne": Status.NEW.value}},
    ]
}
# What the history adds to the arrays: status changes and replies.
RECORDED: Document = {"$or": [{"event": Event.REPLY_SENT}, {"changes.field": "status"}]}
_READ = {"version": 1, "outbox": 1}


def timeline(entries: Iterable[HistoryEntry]) -> dict[str, list[Document]]:
    """Both arrays of a ticket with this history, in the order it happened."""
    arrays: dict[str, list[Document]] = {STATUS_MOVES: [], AGENT_REPLIES: []}
    for entry in sorted(entries, key=lambda e: e.seq):
        for name, record in timeline_records(entry).items():
            arrays[name].append(record)
    return arrays


def backfill(store: Store, *, batch: int = BATCH) -> int:
    """Fill the arrays of every ticket that needs it, `batch` tickets at a time; how many
    tickets were filled."""
    filled = 0
    for docs in _batches(store.tickets.find(NEEDS_FILLING, _READ, batch_size=batch), batch):
        filled += _fill(store, docs)
    return filled


def _batches(cursor: Iterable[Document], size: int) -> Iterator[list[Document]]:
    iterator = iter(cursor)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _fill(store: Store, docs: list[Document]) -> int:
    """Write the arrays of `docs`, each only if the ticket is still at the version read;
    a ticket changed meanwhile is read and filled again."""
    filled = 0
    for _ in range(ATTEMPTS):
        histories = _histories(store, docs)
        writes = [
            UpdateOne(
                {"_id": doc["_id"], "version": doc["version"]},
                {"$set": timeline(histories[doc["_id"]])},
            )
            for doc in docs
        ]
        written = store.tickets.bulk_write(writes, ordered=False).matched_count
        filled += written
        if written == len(docs) or not (docs := _changed_since(store, docs)):
            break
    return filled


def _histories(store: Store, docs: list[Document]) -> dict[ObjectId, list[HistoryEntry]]:
    """Each ticket's entries that add to the arrays: stored, and carried in its outbox
    (an entry both stored and carried counts once)."""
    found: dict[Any, dict[str, HistoryEntry]] = {doc["_id"]: {} for doc in docs}
    query = {"ticket_id": {"$in": list(found)}, **RECORDED}
    for row in store.history.find(query, {"message": 0}):
        entry = to_entry(row)
        found[row["ticket_id"]][entry.id] = entry
    for doc in docs:
        found[doc["_id"]].update((e.id, e) for e in carried_entries(doc))
    return {ticket: list(entries.values()) for ticket, entries in found.items()}


def _changed_since(store: Store, docs: list[Document]) -> list[Document]:
    """`docs` whose version moved on since they were read, as they are now."""
    read = {doc["_id"]: doc["version"] for doc in docs}
    now = store.tickets.find({"_id": {"$in": list(read)}}, _READ)
    return [doc for doc in now if doc["version"] != read[doc["_id"]]]
