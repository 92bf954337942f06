"""Reindex benchmark: `helpdesk reindex` from the store into a fresh embedded index.

`bench/search.py` times the index alone; this times what an operator waits for. It loads N
synthetic tickets (bench/search.py's generator, the same seed gives the same data) into the
embedded MongoDB-wire server, each with its messages as history entries, the load timed
apart. The server runs in its own process, as it does under `helpdesk serve`, while the
rebuild (`ticketcore.search.rebuild.Rebuild`, the code behind `helpdesk reindex`) runs here:
a scan in `_id` order with the messages read by range, the next batch read while the current
one is written. It prints the rebuild's time and rate, checks that every ticket is in the
new index, then runs it again after an interruption halfway, to show the resume. Run it
from the project root: `.venv/bin/python bench/reindex.py --quick`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import subprocess
import time
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson import ObjectId

from bench.harness import (
    DB_NAME,
    positive,
    print_results,
    sized,
    sized_parser,
    summary,
    temporary_dir,
    verdict,
)
from bench.search import FULL_TICKETS, MAX_INDEX_SECONDS_FULL, TicketMaker
from ticketcore.search.embedded import EmbeddedIndex
from ticketcore.search.port import IndexedTicket
from ticketcore.search.rebuild import Rebuild
from ticketcore.store import Store

Document = dict[str, Any]
QUICK_TICKETS = 20_000
LOAD_BATCH = 5_000
SERVER = """
import sys
from pathlib import Path
from embedded.servers import EmbeddedMongo
server = EmbeddedMongo(Path(sys.argv[1]))
print(server.start(), flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
server.stop()
"""


def mongo_process(stack: ExitStack, directory: Path) -> str:
    """The embedded MongoDB-wire server in a process of its own; its URI."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None and process.stdin is not None

    def stop() -> None:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)

    stack.callback(stop)
    return process.stdout.readline().strip()


def documents(ticket: IndexedTicket) -> tuple[Document, list[Document]]:
    """The ticket as the store keeps it, and its messages as history entries."""
    oid = ObjectId()
    doc = {
        "_id": oid,
        "number": ticket.number,
        "subject": ticket.subject,
        "channel": ticket.channel,
        "player": {
            "player_id": ticket.player_id,
            "email": ticket.email,
            "telegram_username": ticket.telegram_username,
            "language": ticket.language,
        },
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee,
        "queue": ticket.queue,
        "tags": list(ticket.tags),
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "version": 0,
    }
    entries = []
    kinds = [("player", ticket.player_texts), ("reply", ticket.replies), ("note", ticket.notes)]
    for kind, texts in kinds:
        for text in texts:
            doc["version"] += 1
            actor = {"kind": "player" if kind == "player" else "agent", "id": "bench"}
            entries.append(
                {
                    "_id": str(ObjectId()),
                    "ticket_id": oid,
                    "number": ticket.number,
                    "seq": doc["version"],
                    "event": "message.received" if kind == "player" else f"message.{kind}",
                    "actor": actor,
                    "at": ticket.updated_at,
                    "is_message": True,
                    "message": {"kind": kind, "channel": ticket.channel, "text": text},
                }
            )
    return doc, entries


def load(store: Store, n: int, seed: int) -> tuple[int, float]:
    """N tickets and their history into the store; (history entries, seconds)."""
    maker = TicketMaker(seed, n)
    began = time.perf_counter()
    entries = 0
    for start in range(0, n, LOAD_BATCH):
        tickets, history = [], []
        for i in range(start, min(n, start + LOAD_BATCH)):
            doc, messages = documents(maker.ticket(i))
            tickets.append(doc)
            history += messages
        store.tickets.insert_many(tickets, ordered=False)
        store.history.insert_many(history, ordered=False)
        entries += len(history)
    return entries, time.perf_counter() - began


class StopHalfway:
    """A progress hook that interrupts the rebuild once half the tickets are copied."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.copied = 0

    def stage(self, name: str, total: int) -> None:
        return None

    def advance(self, count: int) -> None:
        self.copied += count
        if self.copied >= self.n // 2:
            raise KeyboardInterrupt


def rebuild(store: Store, root: Path, batch: int, progress: Any = None) -> Document:
    index = EmbeddedIndex(root)
    try:
        began = time.perf_counter()
        report = Rebuild(store, index, lambda: datetime.now(UTC), batch=batch, progress=progress)
        done = report.run()
        seconds = time.perf_counter() - began
        index.refresh()
        searcher = index._follow_pointer().searcher()
        return {"seconds": seconds, "indexed": int(searcher.num_docs), "report": done}
    finally:
        index.close()


def measure(n: int, seed: int, batch: int, directory: Path) -> Document:
    with ExitStack() as stack:
        uri = mongo_process(stack, directory / "mongo")
        client: pymongo.MongoClient[Document] = pymongo.MongoClient(uri, tz_aware=True)
        stack.callback(client.close)
        store = Store.connect(client, DB_NAME)
        store.ensure_indexes()
        entries, load_seconds = load(store, n, seed)
        full = rebuild(store, directory / "search", batch)
        with suppress(KeyboardInterrupt):
            rebuild(store, directory / "again", batch, StopHalfway(n))
        resumed = rebuild(store, directory / "again", batch)
    target = MAX_INDEX_SECONDS_FULL * n / FULL_TICKETS
    return {
        "n": n,
        "seed": seed,
        "batch": batch,
        "history_entries": entries,
        "load_seconds": round(load_seconds, 1),
        "reindex_seconds": round(full["seconds"], 2),
        "reindex_tickets_per_s": round(n / full["seconds"], 1),
        "indexed": full["indexed"],
        "resumed_seconds": round(resumed["seconds"], 2),
        "resumed_copied": resumed["report"].copied,
        "resumed_indexed": resumed["indexed"],
        "target_seconds": round(target, 1),
        "targets_met": {
            "reindex_seconds": full["seconds"] <= target,
            "every_ticket_indexed": full["indexed"] == n,
            "resume_completes": resumed["indexed"] == n and resumed["report"].resumed,
        },
    }


def report(fig: Document) -> str:
    met = fig["targets_met"]
    rows = [
        ["", "value"],
        ["tickets", f"{fig['n']:,}"],
        ["messages (history entries)", f"{fig['history_entries']:,}"],
        ["reindex", f"{fig['reindex_seconds']:.1f} s"],
        ["rate", f"{fig['reindex_tickets_per_s']:,.0f} tickets/s"],
        ["in the new index", f"{fig['indexed']:,}"],
        ["resumed after a stop at half", f"{fig['resumed_seconds']:.1f} s"],
    ]
    details = [
        f"  loading the store (not timed in the reindex): {fig['load_seconds']:.1f} s",
        f"  batch {fig['batch']} tickets per index commit and checkpoint",
        f"  the resumed run copied {fig['resumed_copied']:,} tickets in all and holds "
        f"{fig['resumed_indexed']:,}",
    ]
    targets = [
        f"  reindex of {fig['n']:,} tickets under {fig['target_seconds']:g} s "
        f"({MAX_INDEX_SECONDS_FULL:g} s per {FULL_TICKETS:,}): {verdict(met['reindex_seconds'])}",
        f"  every ticket in the new index: {verdict(met['every_ticket_indexed'])}",
        f"  an interrupted reindex resumes and completes: {verdict(met['resume_completes'])}",
    ]
    title = f"reindex benchmark, n={fig['n']}, seed={fig['seed']}"
    return summary(title, rows, "details:", details, met, targets)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = sized_parser(__doc__, FULL_TICKETS, QUICK_TICKETS)
    parser.add_argument(
        "--batch", type=positive(int), default=1000, help="tickets per write (default 1000)"
    )
    return sized(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with temporary_dir("reindex-bench-") as path:
        fig = measure(args.n, args.seed, args.batch, path)
    print_results(report(fig), fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
