"""Bookkeeping effects carried out for many tickets at a time.

Storing a history entry, filing the player and re-indexing a ticket cost the store a
command or two each, and a job of their own cost it three more (lease, read, release)
plus the queue's own round trips: under a busy day those visits were most of the work.
A kind drained here gets no job per change. A change only makes sure one drain of its
kind is queued (jobs.dispatch), and adds its ticket to the kind's set of tickets owing
(in Redis). The drain takes a hundred of those tickets at a time, leases their due
effects of the kind in two commands, carries them out in one go and drops them in one
more, and goes on while rounds come back full. The busier the day, the bigger the batches.

The set is a pointer, not the record: the outbox is. A ticket taken from it by a drain
that dies before its lease, or lost with Redis, owes an overdue effect the sweeper finds
and names again (as it does an effect whose retry falls due).
"""

from __future__ import annotations

import logging
import time

from jobs import runtime
from jobs.dispatch import drain_flag, owing
from jobs.lease import kept
from jobs.runtime import BatchHandler, Claimed, Runtime
from ticketcore.outbox import Owed, lease_of
from ticketcore.store import Document

log = logging.getLogger(__name__)

BATCH = 100  # tickets a round leases at most
BUDGET = 10.0  # seconds a drain goes on before it queues its successor and lets others run


def drain(kind: str) -> int:
    """RQ job: carry out every due effect of `kind`, a batch at a time; how many."""
    rt = runtime.current()
    handler = rt.batch_handlers[kind]
    redis = rt.queue.connection
    # Cleared before the first ticket is taken: a change stored from now on queues another
    # drain, so a ticket this run does not take is never left without one.
    redis.delete(drain_flag(kind))
    started = time.monotonic()
    carried = 0
    while True:
        tickets = [ticket_id.decode() for ticket_id in redis.spop(owing(kind), BATCH) or []]
        claimed = rt.outbox.claim_due(kind, rt.clock(), tickets)
        if claimed:
            carry_out(rt, kind, handler, claimed)
            carried += sum(len(records) for _, records in claimed)
        if len(tickets) < BATCH:
            # Caught up. Tickets named since wait for the drain their changes queued, behind
            # the jobs queued meanwhile: going on would hold this worker in rounds of a few
            # tickets each, at the price of a full round, while cards wait.
            return carried
        if time.monotonic() - started > BUDGET:
            rt.dispatcher().drain(kind)  # the rest after the jobs queued meanwhile
            return carried


def carry_out(rt: Runtime, kind: str, handler: BatchHandler, claimed: Claimed) -> None:
    lease = lease_of(record for _, records in claimed for record in records)
    try:
        with kept(rt.outbox, [str(doc["_id"]) for doc, _ in claimed], lease, rt.clock):
            handler(rt, claimed)
    except Exception as exc:
        now = rt.clock()
        error = f"{type(exc).__name__}: {exc}"
        log.warning("%s failed for %d tickets: %s", kind, len(claimed), error)
        for doc, records in claimed:
            for record in records:
                owed = Owed(str(doc["_id"]), record["key"], lease)
                dead = rt.outbox.fail(owed, record["attempts"], error, now)
                count(rt, kind, "dead" if dead else "failed", record)
        return
    rt.outbox.complete_all(
        {str(doc["_id"]): [r["key"] for r in rs] for doc, rs in claimed}, lease=lease
    )
    for _, records in claimed:
        for record in records:
            count(rt, kind, "done", record)


def count(rt: Runtime, kind: str, outcome: str, record: Document) -> None:
    if rt.metrics is not None:
        rt.metrics.effect(kind, outcome, due=record.get("owed_at"), now=rt.clock())
