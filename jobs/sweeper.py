"""The periodic safety net: re-enqueue every effect that is owed and overdue."""

from __future__ import annotations

import logging

from jobs import runtime
from jobs.dispatch import QueueDispatcher

log = logging.getLogger(__name__)


def sweep() -> int:
    """RQ cron job: hand overdue effects (lost jobs, expired leases, retries) to workers."""
    rt = runtime.current()
    cutoff = rt.clock() - rt.sweep_grace
    by_ticket: dict[str, list[str]] = {}
    for owed in rt.outbox.overdue(cutoff):
        by_ticket.setdefault(owed.ticket_id, []).append(owed.key)
    dispatcher = QueueDispatcher(rt.queue)
    for ticket_id, keys in by_ticket.items():
        dispatcher.dispatch(ticket_id, keys)
    count = sum(len(keys) for keys in by_ticket.values())
    if count:
        log.info("sweeper re-enqueued %d overdue effects on %d tickets", count, len(by_ticket))
    return count
