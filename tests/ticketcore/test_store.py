"""The store's indexes: made at every start, and the obsolete ones of older versions gone."""

from __future__ import annotations

from pymongo import ASCENDING

from ticketcore.store import OBSOLETE_TICKET_INDEXES, Store


def test_an_index_no_query_uses_is_dropped_at_start(store: Store) -> None:
    store.tickets.create_index([("outbox.key", ASCENDING)])  # as an older version made it
    assert "outbox.key_1" in store.tickets.index_information()

    store.ensure_indexes()

    names = set(store.tickets.index_information())
    assert names.isdisjoint(OBSOLETE_TICKET_INDEXES)
    assert {"number_1", "outbox.due_at_1", "mail_ids_1"} <= names


def test_making_the_indexes_again_changes_nothing(store: Store) -> None:
    before = store.tickets.index_information()

    store.ensure_indexes()

    assert store.tickets.index_information() == before
