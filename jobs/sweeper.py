"""The periodic safety net: re-enqueue every effect that is owed and overdue."""

from __future__ import annotations

import logging

from jobs import runtime

log = logging.getLogger(__name__)


def sweep() -> int:
    """RQ cron job: hand overdue effects (lost jobs, expired leases, retries) to workers."""
    rt = runtime.current()
    cutoff = rt.clock() - rt.sweep_grace
    by_ticket: dict[str, list[str]] = {}
    for owed in rt.outbox.overdue(cutoff):
        by_ticket.setdefault(owed.ticket_id, []).append(owed.key)
    dispatcher = rt.dispatcher()
    redis = rt.queue.connection
    now = rt.clock().timestamp()
    quiet = rt.sweep_grace.total_seconds()
    count = 0
    for ticket_id, keys in by_ticket.items():
        # Once per grace period per ticket: when workers are behind, the first re-enqueued
        # job is still waiting in the queue, and more copies would only lengthen the queue.
        last = redis.get(f"swept:{ticket_id}")
        if last is not None and now - float(last) < quiet:
            continue
        redis.set(f"swept:{ticket_id}", now, ex=max(60, int(2 * quiet)))
        dispatcher.dispatch(ticket_id, keys)
        count += len(keys)
    if count:
        log.info("sweeper re-enqueued %d overdue effects on %d tickets", count, len(by_ticket))
    return count
