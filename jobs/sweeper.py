"""The periodic safety net: re-enqueue every effect that is owed and overdue."""

from __future__ import annotations

import logging

from jobs import runtime
from jobs.notices import sweep_notices

log = logging.getLogger(__name__)

BACKLOG_JOBS = 100  # jobs waiting in a queue beyond which the sweeper leaves it alone


def sweep() -> int:
    """RQ cron job: hand overdue effects (lost jobs, expired leases, retries) to workers."""
    rt = runtime.current()
    cutoff = rt.clock() - rt.sweep_grace
    by_ticket: dict[str, list[str]] = {}
    for owed in rt.outbox.overdue(cutoff, rt.clock()):
        by_ticket.setdefault(owed.ticket_id, []).append(owed.key)
    dispatcher = rt.dispatcher()
    redis = rt.queue.connection
    now = rt.clock().timestamp()
    quiet = rt.sweep_grace.total_seconds()
    count = 0
    # A queue with a backlog is not fed: its overdue effects are most likely waiting in it
    # already, and copies would only lengthen it (on the load day they grew it by
    # thousands of jobs a minute). Whatever is still overdue once it has drained was
    # really lost, and is handed over then.
    busy: dict[str, bool] = {}

    def backlogged(key: str) -> bool:
        queue = rt.queue_for(key.split(":", 1)[0])
        if queue.name not in busy:
            busy[queue.name] = queue.count > BACKLOG_JOBS
        return busy[queue.name]

    drained: dict[str, list[str]] = {}  # tickets owing overdue effects of drained kinds
    for ticket_id, owed_keys in by_ticket.items():
        keys = []
        for key in owed_keys:
            kind = key.split(":", 1)[0]
            if backlogged(key):
                continue
            if kind in dispatcher.drained:
                drained.setdefault(kind, []).append(ticket_id)
                count += 1
            else:
                keys.append(key)
        if not keys:
            continue
        # Once per grace period per ticket: when workers are behind, the first re-enqueued
        # job is still waiting in the queue, and more copies would only lengthen the queue.
        last = redis.get(f"swept:{ticket_id}")
        if last is not None and now - float(last) < quiet:
            continue
        redis.set(f"swept:{ticket_id}", now, ex=max(60, int(2 * quiet)))
        dispatcher.dispatch(ticket_id, keys)
        count += len(keys)
    for kind, tickets in sorted(drained.items()):
        # Whatever the flag says: the drain it stands for is the one that got lost.
        dispatcher.drain(kind, sorted(set(tickets)), again=True)
    count += sweep_notices(rt)  # the player records' outbox
    if count:
        log.info("sweeper re-enqueued %d overdue effects", count)
    return count
