"""The write every change to a ticket goes through: read, decide, compare-and-set the
ticket with the effects the change owes, and on a conflict read and decide again."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from ticketcore import sla_clock
from ticketcore.clock import Clock
from ticketcore.counts import TicketCounts
from ticketcore.effects import (
    CORE_KINDS,
    Change,
    Dispatcher,
    EffectTable,
    NoDispatch,
    Subscriptions,
)
from ticketcore.errors import (
    ConcurrentUpdate,
    TicketNotFound,
)
from ticketcore.models import Ticket
from ticketcore.outbox import HISTORY_STORE, Outbox, still_waiting, waiting
from ticketcore.queries import (
    TicketQueries,
    carried_entries,
)
from ticketcore.sla import SlaConfig
from ticketcore.store import (
    Document,
    Store,
    save_entries,
    to_ticket,
)
from ticketcore.writes import (
    Action,
    is_worth_keeping,
    outcome,
)

log = logging.getLogger(__name__)


UNSET: Any = object()


Decide = Callable[[Ticket], Action | None]


# Stored history records are pulled off the ticket by the worker; if it is away for long,
# the request path stores them itself so one busy ticket never nears the 16 MB limit.
MAX_CARRIED_HISTORY = 50


MAX_ATTEMPTS = 50  # compare-and-set retries before giving up on a very hot ticket


ESCALATED_TAG = "escalated"


# A read skips the carried entries' bodies: the writer needs their number, not their text.
WITHOUT_BODIES = {"outbox.payload": 0}


class TicketWriter(TicketQueries):
    """Reads the ticket, decides, and writes it with its effects in one guarded update."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        dispatcher: Dispatcher | None = None,
        subscriptions: Subscriptions | None = None,
        outbox: Outbox | None = None,
        sla: Callable[[], SlaConfig | None] = lambda: None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.outbox = outbox or Outbox(store)
        self.dispatcher: Dispatcher = dispatcher or NoDispatch()
        self.subscriptions = subscriptions or EffectTable.of(CORE_KINDS).subscriptions()
        self.sla = sla  # the SLA policies in force (they may be reloaded), or none
        self.counts = TicketCounts(store)

    def _record(self, number: int, action: Action) -> Ticket:
        """Write an action that does not depend on the ticket's state (a note)."""
        return self._required(number, self._change({"number": number}, lambda _: action))

    def _change(
        self, query: Document, decide: Decide, *, read: Document | None = None
    ) -> Ticket | None:
        """Read the ticket matching `query`, decide, and store the outcome if nobody wrote
        in between (compare-and-set on the version); on a conflict, read and decide again.

        `read`: the ticket as the caller has just read it (projected by WITHOUT_BODIES),
        which spares the first read. Being a little stale costs at most one more attempt:
        the write still checks the version.

        Returns None when no ticket matches; the current ticket, unchanged, when `decide`
        declines (returns None) or the action changes nothing and says nothing.
        """
        for attempt in range(MAX_ATTEMPTS):
            doc = read or self.store.tickets.find_one(
                query, WITHOUT_BODIES, sort=[("number", DESCENDING)]
            )
            read = None
            if doc is None:
                return None
            current = to_ticket(doc)
            action = decide(current)
            if action is None or action.inbound_id in current.inbound_ids:
                return current
            config = self.sla()
            if config is not None:
                clocks = sla_clock.after_change(
                    config,
                    current,
                    action.updates,
                    event=action.event,
                    actor=action.actor,
                    now=action.at,
                )
                if clocks:
                    action = replace(action, updates={**action.updates, **clocks})
            change = Change(action.event, current, action.at, action.message, action.data)
            effects = self.subscriptions.kinds_for(
                action.event, current.channel.value, change=change
            )
            # A coalesced effect already waiting acts for this change as well, provided no
            # worker claims it before this write (the guard below; if one does, the next
            # attempt owes a new one).
            relied_on = waiting(doc.get("outbox", []), self.subscriptions.coalesced & {*effects})
            effects = [kind for kind in effects if kind not in relied_on]
            result = outcome(current, action, effects)
            if not is_worth_keeping(result.entry):
                return current
            guard = {"_id": doc["_id"], "version": current.version}
            if relied_on:
                guard.update(still_waiting(relied_on.values()))
            written = self.store.tickets.update_one(guard, result.update)
            if written.matched_count:
                self.counts.moved(current, result.ticket)
                self._after_write(doc, result.keys)
                return result.ticket
            time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))  # let the winner finish
        raise ConcurrentUpdate(int(query.get("number", 0)))

    def _once(self, inbound_id: str | None, store: Callable[[], Ticket]) -> Ticket:
        """Store an inbound message once: if a ticket has its platform id already, that
        ticket, unchanged. The unique index on `inbound_ids` settles a race with a resend
        being stored at the same moment, and a resend after its ticket was closed."""
        if inbound_id is None:
            return store()
        stored = self.stored_with(inbound_id)
        if stored is not None:
            return stored
        try:
            return store()
        except DuplicateKeyError:
            stored = self.stored_with(inbound_id)
            if stored is None:  # another unique key (a mail's Message-Id): not ours to settle
                raise
            return stored

    def _required(self, number: int, ticket: Ticket | None) -> Ticket:
        if ticket is None:
            raise TicketNotFound(number)
        return ticket

    def _after_write(self, before: Document, keys: Sequence[str]) -> None:
        """`before` is the ticket as read (without bodies) just before this write."""
        carried = sum(1 for r in before.get("outbox", []) if r["kind"] == HISTORY_STORE)
        if carried >= MAX_CARRIED_HISTORY:
            self._flush_history(before["_id"])
        self._dispatch(str(before["_id"]), keys)

    def _flush_history(self, ticket_id: ObjectId) -> None:
        """Store carried entries inline: the worker is behind, and one document must not
        grow without bound (MongoDB's 16 MB limit)."""
        doc = self.store.tickets.find_one({"_id": ticket_id}, {"number": 1, "outbox": 1})
        if doc is None:
            return
        records = [r for r in doc["outbox"] if r["kind"] == HISTORY_STORE]
        log.warning(
            "ticket #%s carries %d unstored history entries; is a worker running?",
            doc["number"],
            len(records),
        )
        save_entries(self.store, carried_entries(doc))
        self.outbox.complete_many(str(ticket_id), [r["key"] for r in records])

    def _dispatch(self, ticket_id: str, keys: Sequence[str], *, opening: bool = False) -> None:
        try:
            self.dispatcher.dispatch(ticket_id, keys, opening=opening)
        except Exception:  # the change is stored; the sweeper will deliver what it owes
            log.exception("could not schedule effects of ticket %s", ticket_id)
