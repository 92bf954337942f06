"""The store's indexes: made at every start, the obsolete ones of older versions gone, and
the date range the sweeps read them by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING

from ticketcore.store import OBSOLETE_TICKET_INDEXES, Store, at_or_before


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


def test_at_or_before_finds_set_dates_up_to_the_moment_and_nothing_unset(store: Store) -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    store.tickets.insert_many(
        [
            {"number": 1, "sla_next_check": now - timedelta(days=400)},
            {"number": 2, "sla_next_check": now},
            {"number": 3, "sla_next_check": now + timedelta(seconds=1)},
            {"number": 4, "sla_next_check": None},
            {"number": 5},
            {"number": 6, "outbox": [{"due_at": now - timedelta(minutes=1)}, {"due_at": None}]},
            {"number": 7, "outbox": []},
        ]
    )

    def numbers(field: str) -> list[int]:
        found = store.tickets.find({field: at_or_before(now)}, {"number": 1})
        return sorted(doc["number"] for doc in found)

    assert numbers("sla_next_check") == [1, 2]
    assert numbers("outbox.due_at") == [6]
