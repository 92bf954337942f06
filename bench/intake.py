"""Intake benchmark: how fast TicketService opens tickets and takes follow-ups.

It starts the embedded MongoDB-wire server in this process, opens N tickets and then adds
one follow-up to each through TicketService, and does the same with a bare pymongo loop
that issues only the minimal commands. It prints the rates, the database commands per
operation, the service/bare time ratios and whether the targets are met, then one line of
JSON with every figure. Run it from the project root:
`.venv/bin/python bench/intake.py --n 1000`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.database import Database
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from bench.harness import print_results, summary, temporary_dir, verdict
from embedded.servers import EmbeddedMongo
from ticketcore.models import Channel, Player
from ticketcore.service import TicketService
from ticketcore.store import Store

Document = dict[str, Any]

SERVICE_DB = "bench_service"
BARE_DB = "bench_bare"
FIRST_TEXT = "Problem {i}\nsome detail"
FOLLOW_UP_TEXT = "follow up"

MAX_COMMANDS_PER_TICKET = 4
MAX_COMMANDS_PER_FOLLOW_UP = 2
MAX_TIME_RATIO = 1.5

# Connection upkeep, not work done for a ticket.
IGNORED_COMMANDS = frozenset(
    {"hello", "ismaster", "ping", "endsessions", "buildinfo", "saslstart", "saslcontinue"}
)


class CommandCounter(CommandListener):
    """Counts the commands the client starts, by name, since the last reset."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name.lower() not in IGNORED_COMMANDS:
            self.counts[event.command_name] += 1

    def succeeded(self, event: CommandSucceededEvent) -> None:
        return None

    def failed(self, event: CommandFailedEvent) -> None:
        return None

    def reset(self) -> None:
        self.counts = Counter()


@dataclass(frozen=True)
class Half:
    """One timed half of a run: N operations of one kind."""

    seconds: float
    commands: Counter[str]

    def rate(self, n: int) -> float:
        return n / self.seconds if self.seconds > 0 else float("inf")

    def per_op(self, n: int) -> float:
        return sum(self.commands.values()) / n


@dataclass(frozen=True)
class Run:
    """Both halves for one implementation."""

    name: str
    tickets: Half
    follow_ups: Half


def timed(counter: CommandCounter, work: Callable[[], None]) -> Half:
    counter.reset()
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    return Half(seconds, counter.counts.copy())


def now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------- TicketService


def run_service(client: MongoClient[Document], counter: CommandCounter, n: int) -> Run:
    store = Store.connect(client, SERVICE_DB)
    store.ensure_indexes()
    svc = TicketService(store, now)

    def open_tickets() -> None:
        for i in range(n):
            player = Player(player_id=f"p{i}")
            svc.add_player_message(player=player, channel=Channel.API, text=FIRST_TEXT.format(i=i))

    def follow_up() -> None:
        for i in range(n):
            player = Player(player_id=f"p{i}")
            svc.add_player_message(player=player, channel=Channel.API, text=FOLLOW_UP_TEXT)

    return Run("TicketService", timed(counter, open_tickets), timed(counter, follow_up))


# ----------------------------------------------------------------- bare pymongo


def bare_indexes(db: Database[Document]) -> None:
    db.tickets.create_index([("number", ASCENDING)], unique=True)
    db.tickets.create_index(
        [("player_key", ASCENDING), ("channel", ASCENDING), ("active", ASCENDING)]
    )
    db.messages.create_index([("ticket_id", ASCENDING), ("seq", ASCENDING)])


def current_query(player_key: str) -> Document:
    return {"player_key": player_key, "channel": Channel.API.value, "active": True}


def bare_message(text: str, at: datetime) -> Document:
    return {"kind": "player", "channel": Channel.API.value, "text": text, "at": at}


def bare_ticket(number: int, player_id: str, text: str, at: datetime) -> Document:
    return {
        "number": number,
        "subject": text.splitlines()[0],
        "channel": Channel.API.value,
        "player": {"player_id": player_id},
        "player_key": f"id:{player_id}",
        "status": "new",
        "active": True,
        "priority": "normal",
        "tags": [],
        "created_at": at,
        "updated_at": at,
        "last_player_message_at": at,
        "message_count": 1,
        "messages": [bare_message(text, at)],
    }


def bare_open(db: Database[Document], i: int) -> None:
    player_id = f"p{i}"
    assert db.tickets.find_one(current_query(f"id:{player_id}")) is None
    counter = db.counters.find_one_and_update(
        {"_id": "n"},
        {"$inc": {"value": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert counter is not None
    db.tickets.insert_one(bare_ticket(counter["value"], player_id, FIRST_TEXT.format(i=i), now()))


def bare_follow_up(db: Database[Document], i: int) -> None:
    at = now()
    ticket = db.tickets.find_one_and_update(
        current_query(f"id:p{i}"),
        {
            "$set": {"last_player_message_at": at, "updated_at": at},
            "$inc": {"message_count": 1},
            "$push": {"messages": bare_message(FOLLOW_UP_TEXT, at)},
        },
    )
    assert ticket is not None


def run_bare(client: MongoClient[Document], counter: CommandCounter, n: int) -> Run:
    db = client[BARE_DB]
    bare_indexes(db)

    def open_tickets() -> None:
        for i in range(n):
            bare_open(db, i)

    def follow_up() -> None:
        for i in range(n):
            bare_follow_up(db, i)

    return Run("bare pymongo", timed(counter, open_tickets), timed(counter, follow_up))


# ----------------------------------------------------------------- report


def run_figures(run: Run, n: int) -> Document:
    return {
        "tickets_per_s": round(run.tickets.rate(n), 1),
        "follow_ups_per_s": round(run.follow_ups.rate(n), 1),
        "commands_per_ticket": round(run.tickets.per_op(n), 3),
        "commands_per_follow_up": round(run.follow_ups.per_op(n), 3),
        "ticket_commands": dict(sorted(run.tickets.commands.items())),
        "follow_up_commands": dict(sorted(run.follow_ups.commands.items())),
        "tickets_seconds": round(run.tickets.seconds, 4),
        "follow_ups_seconds": round(run.follow_ups.seconds, 4),
    }


def figures(n: int, service: Run, bare: Run) -> Document:
    ticket_ratio = service.tickets.seconds / bare.tickets.seconds
    follow_up_ratio = service.follow_ups.seconds / bare.follow_ups.seconds
    return {
        "n": n,
        "service": run_figures(service, n),
        "bare": run_figures(bare, n),
        "ratio_tickets": round(ticket_ratio, 3),
        "ratio_follow_ups": round(follow_up_ratio, 3),
        "targets_met": {
            "commands_per_ticket": service.tickets.per_op(n) <= MAX_COMMANDS_PER_TICKET,
            "commands_per_follow_up": service.follow_ups.per_op(n) <= MAX_COMMANDS_PER_FOLLOW_UP,
            "ratio_tickets": ticket_ratio <= MAX_TIME_RATIO,
            "ratio_follow_ups": follow_up_ratio <= MAX_TIME_RATIO,
        },
    }


def breakdown(commands: Document) -> str:
    return ", ".join(f"{name} {count}" for name, count in commands.items()) or "none"


def report(fig: Document) -> str:
    svc, bare, met = fig["service"], fig["bare"], fig["targets_met"]
    rows = [
        ["", "TicketService", "bare pymongo", "service/bare time"],
        [
            "tickets/s",
            f"{svc['tickets_per_s']:.1f}",
            f"{bare['tickets_per_s']:.1f}",
            f"{fig['ratio_tickets']:.2f}x",
        ],
        [
            "follow-ups/s",
            f"{svc['follow_ups_per_s']:.1f}",
            f"{bare['follow_ups_per_s']:.1f}",
            f"{fig['ratio_follow_ups']:.2f}x",
        ],
        [
            "DB commands / new ticket",
            f"{svc['commands_per_ticket']:.2f}",
            f"{bare['commands_per_ticket']:.2f}",
            "",
        ],
        [
            "DB commands / follow-up",
            f"{svc['commands_per_follow_up']:.2f}",
            f"{bare['commands_per_follow_up']:.2f}",
            "",
        ],
    ]
    targets = [
        f"  <= {MAX_COMMANDS_PER_TICKET} commands per new ticket: "
        f"{verdict(met['commands_per_ticket'])}",
        f"  <= {MAX_COMMANDS_PER_FOLLOW_UP} commands per follow-up: "
        f"{verdict(met['commands_per_follow_up'])}",
        f"  service within {MAX_TIME_RATIO}x of bare, new tickets: {verdict(met['ratio_tickets'])}",
        f"  service within {MAX_TIME_RATIO}x of bare, follow-ups: "
        f"{verdict(met['ratio_follow_ups'])}",
    ]
    details = [
        f"  service new ticket: {breakdown(svc['ticket_commands'])}",
        f"  service follow-up:  {breakdown(svc['follow_up_commands'])}",
        f"  bare new ticket:    {breakdown(bare['ticket_commands'])}",
        f"  bare follow-up:     {breakdown(bare['follow_up_commands'])}",
    ]
    title = f"intake benchmark, n={fig['n']}"
    return summary(title, rows, "commands by name (totals):", details, met, targets)


# ----------------------------------------------------------------- main


@contextmanager
def data_dir(given: Path | None) -> Iterator[Path]:
    """The given directory, or a fresh temporary one removed afterwards."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with temporary_dir("intake-bench-") as path:
        yield path


def measure(uri: str, n: int) -> Document:
    counter = CommandCounter()
    client: MongoClient[Document] = MongoClient(uri, tz_aware=True, event_listeners=[counter])
    try:
        for name in (SERVICE_DB, BARE_DB):  # a reused data dir must start empty
            client.drop_database(name)
        service = run_service(client, counter, n)
        bare = run_bare(client, counter, n)
        return figures(n, service, bare)
    finally:
        client.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="tickets to open (default 300)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="server files (default: a temporary dir)"
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with data_dir(args.data_dir) as path:
        server = EmbeddedMongo(path)
        uri = server.start()
        try:
            fig = measure(uri, args.n)
        finally:
            server.stop()
    print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
