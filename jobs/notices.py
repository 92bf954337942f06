"""Carry out the notices owed on player records (ticketcore.notices): lease each, run the
handler of its kind, then drop it or let it come back later."""

from __future__ import annotations

import logging
from datetime import timedelta

from jobs import runtime
from jobs.runtime import Runtime
from ticketcore.effects import RetryLater
from ticketcore.notices import Notices
from ticketcore.store import Document

log = logging.getLogger(__name__)


def notices_of(rt: Runtime) -> Notices:
    return Notices(rt.store, rt.outbox.lease, rt.outbox.delays)


def deliver_due_notices() -> int:
    """RQ job: deliver every player notice due now; safe to run any number of times (a
    notice another worker holds is not due). How many were delivered."""
    rt = runtime.current()
    notices = notices_of(rt)
    delivered = 0
    for record_id in notices.due(rt.clock()):
        record, leased = notices.claim(record_id, rt.clock())
        for notice in leased:
            delivered += run_notice(rt, notices, record, notice)
    return delivered


def run_notice(rt: Runtime, notices: Notices, record: Document, notice: Document) -> int:
    """Carry out one leased notice; 1 when it is done."""
    record_id = str(record["_id"])
    handler = rt.handler_for(notice["kind"])
    try:
        if handler is None:
            raise LookupError(f"no handler for {notice['kind']}")
        handler(rt, record, notice)
    except RetryLater as exc:
        until = rt.clock() + timedelta(seconds=exc.seconds)
        notices.postpone(record_id, notice, until, str(exc))
        rt.queue.enqueue_in(timedelta(seconds=exc.seconds + 1), deliver_due_notices)
        return 0
    except Exception as exc:
        dead = notices.fail(record_id, notice, f"{type(exc).__name__}: {exc}", rt.clock())
        log.warning("notice %s failed%s: %s", notice["key"], ", giving up" if dead else "", exc)
        return 0
    notices.complete(record_id, notice["key"])
    return 1


def sweep_notices(rt: Runtime) -> int:
    """Hand notices whose job was lost (or whose retry is due) to a worker."""
    overdue = notices_of(rt).due(rt.clock() - rt.sweep_grace, limit=1)
    if overdue:
        rt.queue.enqueue(deliver_due_notices)
    return len(overdue)
