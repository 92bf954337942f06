"""Mails as they arrived, quoted history and signature included, kept beside the message
that shows their new words: in a collection of their own, so that neither the ticket
(rewritten on every change) nor its history entries carry up to MAX_ORIGINAL characters
each, and a read of the ticket never loads them."""

from __future__ import annotations

import hashlib
from datetime import datetime

from ticketcore.models import MAX_ORIGINAL
from ticketcore.store import Store


class OriginalTooLong(ValueError):
    """An original longer than MAX_ORIGINAL: the edge cuts it before it gets here."""

    def __init__(self, length: int) -> None:
        super().__init__(f"the original mail is {length:,} characters; at most {MAX_ORIGINAL:,}")
        self.length = length


def original_ref(message_id: str) -> str:
    """The key of a mail's original: the same on every delivery of the same Message-Id."""
    return hashlib.sha256(message_id.encode()).hexdigest()[:32]


def check_original(text: str) -> None:
    """Raise OriginalTooLong before anything is written, never after."""
    if len(text) > MAX_ORIGINAL:
        raise OriginalTooLong(len(text))


def keep_original(store: Store, ref: str, *, number: int, text: str, at: datetime) -> None:
    """Store the original of a message of ticket `number`; a second delivery changes
    nothing, and one after a crash between the ticket's write and this one completes it."""
    store.originals.update_one(
        {"_id": ref},
        {"$setOnInsert": {"number": number, "text": text, "at": at}},
        upsert=True,
    )


def read_original(store: Store, number: int, ref: str) -> str | None:
    """The original kept under `ref` for ticket `number`, or None."""
    doc = store.originals.find_one({"_id": ref, "number": number}, {"text": 1})
    return None if doc is None else str(doc["text"])
