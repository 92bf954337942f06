"""Every list reads what it shows, not the whole store.

The embedded server reads every document a query matches before it sorts and limits, and
every document of the collection when no index serves the query. So what a request reads
is knowable: for each query it sends, the documents matching it when an index serves it,
the whole collection when none does (the server's own plan says which). Each test grows a
store of a few thousand tickets, runs one request, and bounds what its queries read by
what the request shows; read from the whole store, the same request reads thousands.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from tests.conftest import FakeClock
from ticketcore.counts import TicketCounts
from ticketcore.lifecycle import Status
from ticketcore.models import Actor, ActorKind, Channel, HistoryEntry, Player
from ticketcore.outbox import Outbox
from ticketcore.queries import carried_entries
from ticketcore.search.embedded import EmbeddedIndex
from ticketcore.search.indexing import TicketReader
from ticketcore.search.rebuild import Rebuild
from ticketcore.service import TicketService
from ticketcore.store import NUMBER_COUNTER, Store, entry_document
from ticketcore.writes import new_entry_id

Document = dict[str, Any]

TICKETS = 3_000
PAGE = 20
AGENTS = [Actor(kind=ActorKind.AGENT, id=f"U0SCAN{n:02d}", name=f"Agent {n}") for n in range(10)]


@dataclass
class Reads(CommandListener):
    """The queries sent to the tickets, history and players while `recording`."""

    recording: bool = False
    sent: list[tuple[str, Document]] = field(default_factory=list)

    def started(self, event: CommandStartedEvent) -> None:
        command, name = event.command, event.command_name
        if not self.recording or command.get(name) not in ("tickets", "history", "players"):
            return
        if name == "find":
            self.sent.append((command["find"], command.get("filter", {})))
        elif name == "aggregate" and command["pipeline"]:
            self.sent.append((command["aggregate"], command["pipeline"][0].get("$match", {})))
        elif name == "count":
            self.sent.append((command["count"], command.get("query", {})))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@dataclass
class Grown:
    """A store of TICKETS tickets, read through a client that records its queries."""

    store: Store  # through the recording client
    plain: pymongo.database.Database[Document]  # the same database, not recorded
    reads: Reads
    players: list[str]
    telegram_users: list[int]

    def examined(self, request: Callable[[], object]) -> int:
        """How many documents the server reads to answer `request`."""
        self.reads.sent.clear()
        self.reads.recording = True
        try:
            request()
        finally:
            self.reads.recording = False
        return sum(self.read_by(collection, query) for collection, query in self.reads.sent)

    def read_by(self, collection: str, query: Document) -> int:
        explained = self.plain.command(
            "explain", {"find": collection, "filter": query}, verbosity="queryPlanner"
        )
        plan = explained["queryPlanner"]["winningPlan"]
        if plan.get("stage") == "COLLSCAN":
            return self.plain[collection].estimated_document_count()
        return self.plain[collection].count_documents(query)


def grow(service: TicketService, clock: FakeClock) -> tuple[list[str], list[int]]:
    """A few tickets through the service on each channel, in each status."""
    players, telegram_users = [], []
    for n in range(12):
        telegram = n % 2 == 0
        player = (
            Player(telegram_user_id=9_000 + n, telegram_chat_id=9_000 + n)
            if telegram
            else Player(player_id=f"p-scan-{n}")
        )
        channel = Channel.TELEGRAM if telegram else Channel.API
        ticket = service.add_player_message(player=player, channel=channel, text=f"help {n}")
        agent = AGENTS[n % len(AGENTS)]
        if n % 3:
            service.take(ticket.number, actor=agent)
        if n % 4 == 1:
            service.reply(ticket.number, actor=agent, text="done")
            service.set_status(ticket.number, Status.CLOSED, actor=agent)
        clock.advance(seconds=60)
        if telegram:
            telegram_users.append(9_000 + n)
        else:
            players.append(f"p-scan-{n}")
    return players, telegram_users


def clones(templates: list[Document], first: int, count: int) -> Iterator[Document]:
    """Copies of the service's tickets under new numbers, most of them closed and
    assigned, as a desk's older tickets are; unique ids left out, as on old tickets."""
    for offset, template in zip(range(count), itertools.cycle(templates), strict=False):
        number = first + offset
        copy = {k: v for k, v in template.items() if k not in ("inbound_ids", "mail_ids")}
        copy |= {"_id": ObjectId(), "number": number, "outbox": [], "template": template["_id"]}
        if number % 50:
            copy |= {"status": Status.CLOSED.value, "active": False}
            copy["assignee"] = AGENTS[number % len(AGENTS)].id
        player = dict(copy["player"])
        if player.get("player_id"):
            player["player_id"] = f"p-old-{number % 200}"
        if player.get("telegram_user_id"):
            player["telegram_user_id"] = player["telegram_chat_id"] = 100_000 + number % 400
        copy["player"] = player
        yield copy


def histories(
    copies: list[Document], stories: dict[ObjectId, list[HistoryEntry]]
) -> Iterator[Document]:
    """Each copy's history, as its template's was stored, under ids of its own."""
    for copy in copies:
        for entry in stories[copy["template"]]:
            moved = entry.model_copy(
                update={
                    "id": new_entry_id(),
                    "ticket_id": str(copy["_id"]),
                    "number": copy["number"],
                }
            )
            yield entry_document(moved)


@pytest.fixture(scope="module")
def grown(mongo_client: pymongo.MongoClient, mongo_uri: str) -> Iterator[Grown]:
    name = f"t_scan_{ObjectId()}"
    setup = Store.connect(mongo_client, name)
    setup.ensure_indexes()
    clock = FakeClock()
    service = TicketService(setup, clock)
    # The service's own tickets are the oldest, then a desk's worth of older ones
    # follows, and a few recent ones of the service's again (kept as written).
    players, telegram_users = grow(service, clock)
    templates = list(setup.tickets.find({}, {"outbox": 0}))
    stories = {t["_id"]: carried_entries(t) for t in setup.tickets.find({}, {"outbox": 1})}
    first = setup.tickets.count_documents({}) + 1
    for start in range(0, TICKETS, 500):
        batch = list(clones(templates, first + start, min(500, TICKETS - start)))
        setup.tickets.insert_many(batch)
        setup.history.insert_many(histories(batch, stories))
    setup.counters.update_one({"_id": NUMBER_COUNTER}, {"$set": {"value": first + TICKETS - 1}})
    TicketCounts(setup).recount()  # the copies were written past the service
    directory = (
        {"player_id": f"p-dir-{n}", "email": f"dir{n}@example.com"} for n in range(TICKETS)
    )
    setup.players.insert_many(list(directory))
    recent_players, recent_users = grow(service, clock)
    reads = Reads()
    client: pymongo.MongoClient = pymongo.MongoClient(
        mongo_uri, tz_aware=True, event_listeners=[reads]
    )
    try:
        yield Grown(
            Store.connect(client, name),
            mongo_client[name],
            reads,
            players + recent_players,
            telegram_users + recent_users,
        )
    finally:
        client.close()
        mongo_client.drop_database(name)


def queries(grown: Grown) -> TicketService:
    return TicketService(grown.store, FakeClock())


def test_the_store_is_large_enough_to_show_a_scan(grown: Grown) -> None:
    assert grown.plain["tickets"].estimated_document_count() > TICKETS
    assert grown.plain["counters"].find_one({"_id": NUMBER_COUNTER})["value"] > TICKETS


@pytest.mark.parametrize(
    "conditions",
    [
        {},
        {"status": Status.NEW},
        {"status": Status.CLOSED},
        {"assignee": AGENTS[1].id},
        {"assignee": AGENTS[1].id, "status": Status.INPROGRESS},
        {"assignee": AGENTS[2].id, "status": Status.CLOSED},
    ],
    ids=["newest", "new", "closed", "agent", "agent-in-progress", "agent-closed"],
)
def test_a_page_of_the_ticket_list_reads_about_a_page(
    grown: Grown, conditions: dict[str, Any]
) -> None:
    service = queries(grown)
    first = service.find(limit=PAGE, **conditions)
    assert first, "the list is empty: nothing to read"
    assert grown.examined(lambda: service.find(limit=PAGE, **conditions)) <= 10 * PAGE
    # The next page through the cursor reads no more.
    before = first[-1].number
    read = grown.examined(lambda: service.find(limit=PAGE, before_number=before, **conditions))
    assert read <= 10 * PAGE


def test_a_players_list_reads_only_their_tickets(grown: Grown) -> None:
    service = queries(grown)
    player = grown.plain["tickets"].find_one({"player.player_id": {"$gt": "p-old-"}})["player"][
        "player_id"
    ]
    theirs = grown.plain["tickets"].count_documents({"player.player_id": player})
    assert 0 < theirs < 20
    assert grown.examined(lambda: service.find(player_id=player, status=Status.CLOSED)) <= theirs


def test_an_agents_open_tickets_and_their_count_read_only_those(grown: Grown) -> None:
    service = queries(grown)
    agent = AGENTS[1].id
    open_ones = grown.plain["tickets"].count_documents(
        {"assignee": agent, "status": {"$nin": ["resolved", "closed"]}}
    )
    assert open_ones < 100
    assert grown.examined(lambda: service.open_tickets(assignee=agent)) <= open_ones
    assert grown.examined(lambda: service.open_count(agent)) <= open_ones


def test_a_telegram_players_open_tickets_read_only_theirs(grown: Grown) -> None:
    service = queries(grown)
    user = grown.telegram_users[-1]
    theirs = grown.plain["tickets"].count_documents({"player.telegram_user_id": user})
    assert grown.examined(lambda: service.open_for_telegram(user)) <= theirs


def test_the_auto_close_reads_only_the_tickets_it_may_close(grown: Grown) -> None:
    clock = FakeClock()
    service = TicketService(grown.store, clock)
    # Nothing is quiet long enough to close: the sweep must find that out without
    # reading the thousands of closed tickets.
    sweep = partial(
        service.auto_close, answered_after=timedelta(days=3650), resolved_after=timedelta(days=3650)
    )
    assert grown.examined(sweep) <= PAGE


def test_the_counts_per_status_read_no_ticket(grown: Grown) -> None:
    service = queries(grown)
    counts = service.count_by_status()
    assert sum(counts.values()) > TICKETS
    assert grown.examined(service.count_by_status) == 0
    assert grown.examined(lambda: service.count_by_status(queue="billing")) == 0


def test_the_outbox_gauges_read_only_tickets_that_owe(grown: Grown) -> None:
    owing = grown.plain["tickets"].count_documents({"outbox.0": {"$exists": True}})
    assert 0 < owing < 100  # the service's own tickets: no worker ran
    counts = Outbox(grown.store).counts
    assert counts()["pending"] > 0
    assert grown.examined(counts) <= owing


def test_indexing_a_ticket_reads_only_its_history(grown: Grown) -> None:
    reader = TicketReader(grown.store)
    newest = list(grown.plain["tickets"].find({}).sort("number", -1).limit(3))
    theirs = grown.plain["history"].count_documents(
        {"ticket_id": {"$in": [d["_id"] for d in newest]}}
    )
    assert grown.plain["history"].estimated_document_count() > 10 * theirs
    assert grown.examined(lambda: reader.read(newest)) <= theirs
    # A rebuild's slice asks for its ids' range: the same tickets, read once over.
    in_slice = list(grown.plain["tickets"].find({"number": {"$gt": 100, "$lte": 100 + PAGE}}))
    ids = [doc["_id"] for doc in in_slice]
    in_range = {"ticket_id": {"$gte": min(ids), "$lte": max(ids)}}
    assert reader.read(in_slice, by_id_range=True) == reader.read(in_slice)
    assert any(ticket.player_texts for ticket in reader.read(in_slice))
    read = grown.examined(lambda: reader.read(in_slice, by_id_range=True))
    assert read <= grown.plain["history"].count_documents(in_range) < 20 * PAGE


def test_a_rebuild_reads_a_slice_of_tickets_at_a_time(grown: Grown, tmp_path: Path) -> None:
    rebuild = Rebuild(grown.store, EmbeddedIndex(tmp_path), FakeClock(), batch=PAGE)
    first_slice = next(rebuild._scan(after=0))
    assert len(first_slice[1]) == PAGE
    assert grown.examined(lambda: next(rebuild._scan(after=1_000))) <= PAGE


def test_a_players_tickets_on_the_card_read_only_theirs(grown: Grown) -> None:
    service = queries(grown)
    player = Player(player_id=grown.players[-1], email="dir7@example.com")
    theirs = grown.plain["tickets"].count_documents({"player.player_id": player.player_id})
    assert service.player_tickets(player)
    assert grown.examined(lambda: service.player_tickets(player)) <= theirs + 2
