"""Fixtures of the ticket core's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from ticketcore.service import TicketService
from ticketcore.store import Store


class TicketReads(CommandListener):
    """The reads of the tickets collection a client sends, counted."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: CommandStartedEvent) -> None:
        name = event.command_name
        if name in {"find", "findAndModify"} and event.command.get(name) == "tickets":
            self.count += 1

    def succeeded(self, event: CommandSucceededEvent) -> None:
        return None

    def failed(self, event: CommandFailedEvent) -> None:
        return None


@pytest.fixture
def reads(service: TicketService, mongo_uri: str) -> Iterator[tuple[TicketService, TicketReads]]:
    """The same store through a client whose ticket reads are counted."""
    counter = TicketReads()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongo_uri, tz_aware=True, event_listeners=[counter]
    )
    yield TicketService(Store.connect(client, service.store.db.name), service.clock), counter
    client.close()
