"""Rebuild the search index from the store beside the live one, then swap it in.

The store is the source of truth, so a lost or outdated index is rebuilt, never trusted.
Searches and the outbox's index jobs keep using the live generation throughout. A rebuild:

1. claims the rebuild (one runs at a time, by a lease in the store), and resumes an
   unfinished one whose generation still exists, or starts a new generation;
2. copies every ticket in number order, a slice of numbers at a time, recording the last
   number after each durable slice: an interrupted rebuild goes on from there;
3. catches up: the tickets changed since the rebuild began are copied again, because the
   scan may have read them before their change, or passed their place before they opened;
4. promotes the new generation, for every process at its next search or write;
5. catches up once more on changes since step 3 began, which index jobs may have written to
   the old generation before they saw the swap (any later job writes to the new one);
6. drops generations older than the one it replaced, which stays for a rollback.

Copying a ticket twice is harmless: a write replaces the ticket's whole document.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from time import monotonic
from typing import Protocol

from pymongo.errors import DuplicateKeyError

from ticketcore.clock import Clock
from ticketcore.search.indexing import TicketReader
from ticketcore.search.port import Generations, IndexedTicket
from ticketcore.store import Document, Store

REBUILD_ID = "search"
# A change is stamped by its writer's clock before the store has it: look back this far.
SKEW = timedelta(minutes=1)
LEASE = timedelta(seconds=15)  # renewed every batch; a killed rebuild's claim lapses after it


class RebuildBusy(Exception):
    """Another rebuild holds the lease."""


class Progress(Protocol):
    def stage(self, name: str, total: int) -> None:
        """A new stage begins with `total` tickets to copy."""
        ...

    def advance(self, count: int) -> None: ...


class _Silent:
    def stage(self, name: str, total: int) -> None:
        return None

    def advance(self, count: int) -> None:
        return None


@dataclass(frozen=True)
class RebuildReport:
    generation: str
    replaced: str
    resumed: bool
    copied: int  # by the scan, this run and any it resumed
    caught_up: int  # copied again because they changed during the rebuild
    dropped: tuple[str, ...]
    seconds: float  # this run's


class Rebuild:
    def __init__(
        self,
        store: Store,
        index: Generations,
        clock: Clock,
        *,
        batch: int = 1_000,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.clock = clock
        self.batch = batch
        self.progress = progress or _Silent()
        self.reader = TicketReader(store)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run(self) -> RebuildReport:
        began = monotonic()
        state, resumed = self._claim()
        generation: str = state["generation"]
        try:
            self.progress.stage("copying", self.store.latest_number())
            self.progress.advance(state["copied"])
            after = state.get("after")
            self._copy(
                generation, self._scan(after if isinstance(after, int) else 0), checkpoint=True
            )
            caught_from = self.clock()
            caught_up = self._copy(generation, self._changed_since(state["started_at"]))
            replaced = self.index.live_generation()
            self.index.promote(generation)
            caught_up += self._copy(generation, self._changed_since(caught_from))
        except BaseException:
            self._release()  # an interrupted rebuild may be resumed at once
            raise
        finally:
            self.index.finish_generation(generation)
        dropped = self.index.drop_generations(keep={generation, replaced})
        copied = self.store.search_rebuilds.find_one_and_delete({"_id": REBUILD_ID})
        return RebuildReport(
            generation=generation,
            replaced=replaced,
            resumed=resumed,
            copied=int(copied["copied"]) if copied else 0,
            caught_up=caught_up,
            dropped=tuple(dropped),
            seconds=monotonic() - began,
        )

    def _scan(self, after: int) -> Iterator[tuple[int | None, list[Document]]]:
        """Every ticket numbered after `after`, a slice of `batch` numbers at a time, with
        the slice's last number. A slice bounded on both sides costs what it holds: with
        one open-ended query the embedded server read every ticket before the first batch
        (a year's store held in its memory at once). Tickets opened meanwhile are the
        catch-up's."""
        last = self.store.latest_number()
        while after < last:
            upto = min(after + self.batch, last)
            yield upto, list(self.store.tickets.find({"number": {"$gt": after, "$lte": upto}}))
            after = upto

    def _changed_since(self, moment: datetime) -> Iterator[tuple[int | None, list[Document]]]:
        """The tickets changed since `moment`, a batch at a time (a rebuild's span of them)."""
        where = {"updated_at": {"$gte": moment - SKEW}}
        self.progress.stage("catching up", self.store.tickets.count_documents(where))
        with self.store.tickets.find(where).batch_size(self.batch) as cursor:
            while docs := list(islice(cursor, self.batch)):
                yield None, docs

    def _copy(
        self,
        generation: str,
        pages: Iterator[tuple[int | None, list[Document]]],
        *,
        checkpoint: bool = False,
    ) -> int:
        """Copy the tickets of every page; how many. The scan's pages checkpoint."""
        copied = 0
        for last, tickets in self._read_ahead(pages, by_id_range=checkpoint):
            if tickets:
                self.index.write_generation(generation, tickets)
            copied += len(tickets)
            self._renew({"after": last, "copied": len(tickets)} if checkpoint else {})
            self.progress.advance(len(tickets))
        return copied

    def _read_ahead(
        self, pages: Iterator[tuple[int | None, list[Document]]], *, by_id_range: bool
    ) -> Iterator[tuple[int | None, list[IndexedTicket]]]:
        """Each page's tickets as the index keeps them, the next page read while the caller
        writes this one: the store's reads and the index's writes overlap. `by_id_range`:
        the scan's slices, whose ids are close together (TicketReader.read)."""

        def read() -> tuple[int | None, list[IndexedTicket]] | None:
            page = next(pages, None)
            if page is None:
                return None
            last, docs = page
            return last, self.reader.read(docs, by_id_range=by_id_range)

        with ThreadPoolExecutor(1, thread_name_prefix="rebuild-read") as pool:
            ahead = pool.submit(read)
            while (done := ahead.result()) is not None:
                ahead = pool.submit(read)
                yield done

    # -- the lease and the checkpoint --------------------------------------------------------

    def _claim(self) -> tuple[Document, bool]:
        """Take the lease; the state to go on from (a resumed rebuild's, or a new one's)."""
        now = self.clock()
        lease = {"owner": self.owner, "lease_until": now + LEASE}
        try:
            self.store.search_rebuilds.insert_one({"_id": REBUILD_ID, **lease})
        except DuplicateKeyError:
            claimed = self.store.search_rebuilds.find_one_and_update(
                {"_id": REBUILD_ID, "lease_until": {"$lte": now}}, {"$set": lease}
            )
            if claimed is None:
                raise RebuildBusy(
                    "another reindex is running; if it was stopped, run again in "
                    f"{int(LEASE.total_seconds())} seconds"
                ) from None
        state = self.store.search_rebuilds.find_one({"_id": REBUILD_ID}) or {}
        if state.get("generation") and self.index.has_generation(state["generation"]):
            return state, True
        fresh = {"generation": self.index.new_generation(), "started_at": now}
        fresh |= {"after": None, "copied": 0}
        self.store.search_rebuilds.update_one({"_id": REBUILD_ID}, {"$set": fresh})
        return {**state, **fresh}, False

    def _renew(self, checkpoint: Document) -> None:
        update: Document = {"$set": {"lease_until": self.clock() + LEASE}}
        if checkpoint:
            update["$set"]["after"] = checkpoint["after"]
            update["$inc"] = {"copied": checkpoint["copied"]}
        renewed = self.store.search_rebuilds.update_one(
            {"_id": REBUILD_ID, "owner": self.owner}, update
        )
        if renewed.matched_count == 0:
            raise RebuildBusy("another reindex took this one over; it carries on from here")

    def _release(self) -> None:
        self.store.search_rebuilds.update_one(
            {"_id": REBUILD_ID, "owner": self.owner}, {"$set": {"lease_until": self.clock()}}
        )
