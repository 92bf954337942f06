"""Bookkeeping effects carried out for many tickets at a time.

Storing a history entry, filing the player and re-indexing a ticket cost the store a
command or two each, and a job of their own cost it three more (lease, read, release)
plus the queue's own round trips: under a busy day those visits were most of the work.
A kind drained here gets no job per change. A change only makes sure one drain of its
kind is queued (jobs.dispatch); the drain leases that kind's due effects across a hundred
tickets in three commands, carries them out in one go and drops them in one more, then
goes on while a full batch came back. The busier the day, the bigger the batches.
"""

from __future__ import annotations

import logging
import time

from jobs import runtime
from jobs.dispatch import drain_flag
from jobs.runtime import BatchHandler, Claimed, Runtime
from ticketcore.outbox import Owed
from ticketcore.store import Document

log = logging.getLogger(__name__)

BATCH = 100  # tickets a round leases at most
BUDGET = 10.0  # seconds a drain goes on before it queues its successor and lets others run


def drain(kind: str) -> int:
    """RQ job: carry out every due effect of `kind`, a batch at a time; how many."""
    rt = runtime.current()
    handler = rt.batch_handlers[kind]
    # Cleared before the first lease: a change stored from now on queues another drain,
    # so an effect this run does not see is never left without one.
    rt.queue.connection.delete(drain_flag(kind))
    started = time.monotonic()
    carried = 0
    while True:
        claimed = rt.outbox.claim_due(kind, rt.clock(), BATCH)
        if claimed:
            carry_out(rt, kind, handler, claimed)
            carried += sum(len(records) for _, records in claimed)
        if len(claimed) < BATCH:
            return carried
        if time.monotonic() - started > BUDGET:
            rt.dispatcher().drain(kind)  # the rest after the jobs queued meanwhile
            return carried


def carry_out(rt: Runtime, kind: str, handler: BatchHandler, claimed: Claimed) -> None:
    now = rt.clock()
    try:
        handler(rt, claimed)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("%s failed for %d tickets: %s", kind, len(claimed), error)
        for doc, records in claimed:
            for record in records:
                owed = Owed(str(doc["_id"]), record["key"])
                dead = rt.outbox.fail(owed, record["attempts"], error, now)
                count(rt, kind, "dead" if dead else "failed", record)
        return
    rt.outbox.complete_all({str(doc["_id"]): [r["key"] for r in rs] for doc, rs in claimed})
    for _, records in claimed:
        for record in records:
            count(rt, kind, "done", record)


def count(rt: Runtime, kind: str, outcome: str, record: Document) -> None:
    if rt.metrics is not None:
        rt.metrics.effect(kind, outcome, due=record.get("owed_at"), now=rt.clock())
