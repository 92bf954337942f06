"""Carry out owed effects: claim each one, run its handler, then drop or reschedule it."""

from __future__ import annotations

import logging
from datetime import timedelta

from jobs import runtime
from jobs.dispatch import RESULT_TTL
from jobs.lease import kept
from jobs.runtime import Runtime
from ticketcore.effects import RetryLater
from ticketcore.logs import bind
from ticketcore.outbox import Owed, lease_of
from ticketcore.store import Document

log = logging.getLogger(__name__)

SCHEDULER_GRAIN = 1.0  # seconds


class NoRoute(Exception):
    """Nothing is configured that can carry this effect (yet)."""


def deliver(ticket_id: str, keys: list[str]) -> dict[str, str]:
    """RQ job: deliver the named effects of one ticket; safe to run any number of times.
    They are leased together and the ones without a result are dropped together, so a
    change's effects cost a handful of database commands, not a few each."""
    rt = runtime.current()
    outcomes = dict.fromkeys(keys, "not due")  # delivered, leased elsewhere, or dead
    claimed = rt.outbox.claim_many(ticket_id, keys, rt.clock())
    if claimed is None:
        return outcomes
    ticket, records = claimed
    lease = lease_of(records)
    done: list[str] = []
    with kept(rt.outbox, [ticket_id], lease, rt.clock):
        for record in records:
            owed = Owed(ticket_id, record["key"], lease)
            with bind(
                ticket=ticket.get("number"), channel=ticket.get("channel"), effect=record["kind"]
            ):
                outcome, result = run_effect(rt, owed, ticket, record)
            outcomes[owed.key] = outcome
            if rt.metrics is not None:
                rt.metrics.effect(
                    record["kind"], outcome, due=record.get("owed_at"), now=rt.clock()
                )
            if outcome == "done" and result:
                # At once: a later effect may need what it set.
                if not rt.outbox.complete(owed, result):
                    log.warning(
                        "effect %s was taken over by another worker: its result is not kept",
                        owed.key,
                    )
                apply_set(ticket, result)  # and the later effects of this job see it too
            elif outcome == "done":
                done.append(owed.key)
    if done:
        rt.outbox.complete_many(ticket_id, done, lease=lease)
    return outcomes


def apply_set(doc: Document, fields: Document) -> None:
    """Apply a `$set` of dotted paths to a document in memory, as the database did."""
    for path, value in fields.items():
        *parents, name = path.split(".")
        target = doc
        for part in parents:
            target = target.setdefault(part, {})
        target[name] = value


def run_effect(
    rt: Runtime, owed: Owed, ticket: Document, record: Document
) -> tuple[str, Document | None]:
    """Carry out one leased effect; failures are rescheduled here, success is the caller's."""
    handler = rt.handler_for(record["kind"])
    try:
        if handler is None:
            raise NoRoute(f"no handler for {record['kind']}")
        return "done", handler(rt, ticket, record)
    except RetryLater as exc:
        # Come back exactly when asked, without holding the worker: other tickets and
        # channels go on meanwhile. The outbox keeps the effect owed if Redis loses this.
        until = rt.clock() + timedelta(seconds=exc.seconds)
        if not rt.outbox.postpone(owed, until, str(exc)):
            return "taken_over", None  # another worker holds it now: it is theirs to retry
        # The later effects of this job see that it waits, and until when.
        record.update(due_at=until, lease=None)
        # RQ's scheduler keeps whole seconds (it truncates), so a job scheduled for exactly
        # the due time could run a fraction early and find the effect not yet due.
        later = timedelta(seconds=exc.seconds + SCHEDULER_GRAIN)
        queue = rt.queue_for(record["kind"])
        queue.enqueue_in(
            later, deliver, owed.ticket_id, [owed.key], result_ttl=RESULT_TTL, at_front=exc.first
        )
        return "postponed", None
    except Exception as exc:
        dead = rt.outbox.fail(owed, record["attempts"], f"{type(exc).__name__}: {exc}", rt.clock())
        log.warning(
            "effect %s of ticket #%s failed (attempt %d)%s: %s",
            owed.key,
            ticket["number"],
            record["attempts"],
            ", giving up" if dead else "",
            exc,
        )
        return ("dead" if dead else "failed"), None
