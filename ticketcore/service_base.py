"""The write machinery every TicketService operation uses, and the players' intake:
read, decide, compare-and-set with the effects owed, retry on a conflict."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING

from ticketcore import sla_clock
from ticketcore.clock import Clock
from ticketcore.effects import (
    CORE_KINDS,
    Change,
    Dispatcher,
    EffectTable,
    NoDispatch,
    Subscriptions,
)
from ticketcore.errors import ConcurrentUpdate, TicketClosed, TicketNotFound
from ticketcore.lifecycle import Status
from ticketcore.models import (
    MAX_SUBJECT,
    Actor,
    Attachment,
    Channel,
    HistoryEntry,
    Player,
    Priority,
    Ticket,
)
from ticketcore.outbox import HISTORY_STORE, Outbox, still_waiting, waiting
from ticketcore.queries import RECENTLY_CLOSED, TicketQueries, carried_entries, latest_on_channel
from ticketcore.sla import SlaConfig
from ticketcore.store import (
    Document,
    Store,
    save_entries,
    to_ticket,
)
from ticketcore.writes import (
    Action,
    entry_record,
    is_worth_keeping,
    new_entry_id,
    normalise_tags,
    outcome,
    player_actor,
    player_message,
    player_message_updates,
    subject_from,
)

log = logging.getLogger(__name__)

UNSET: Any = object()
Decide = Callable[[Ticket], Action | None]

# Stored history records are pulled off the ticket by the worker; if it is away for long,
# the request path stores them itself so one busy ticket never nears the 16 MB limit.
MAX_CARRIED_HISTORY = 50
MAX_ATTEMPTS = 50  # compare-and-set retries before giving up on a very hot ticket
MAX_REDIRECTS = 5
ESCALATED_TAG = "escalated"
# A read skips the carried entries' bodies: the writer needs their number, not their text.
WITHOUT_BODIES = {"outbox.payload": 0}


class ServiceBase(TicketQueries):
    """Every change to tickets, each one atomic with the effects it owes."""

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

    # ----------------------------------------------------------------- players

    def open_ticket(
        self,
        *,
        player: Player,
        channel: Channel,
        text: str,
        actor: Actor | None = None,
        subject: str | None = None,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        priority: Priority = Priority.NORMAL,
        queue: str | None = None,
        tags: Iterable[str] = (),
        context: Document | None = None,
        reopened_from: int | None = None,
        external_id: str | None = None,
        mail_id: str | None = None,
        sender_verified: bool = True,
        original_ref: str | None = None,
    ) -> Ticket:
        """Open a new ticket with the player's first message (`mail_id`: its Message-Id,
        when it came by mail; DuplicateKeyError if another ticket already has it)."""
        message = player_message(channel, text, html, attachments, external_id, original_ref)
        actor = actor or player_actor(player, channel)
        title = subject.strip() if subject and subject.strip() else subject_from(text)
        clean_tags = normalise_tags(tags)
        now = self.clock()
        ticket = Ticket(
            id=str(ObjectId()),
            number=0,
            subject=title[:MAX_SUBJECT],
            channel=channel,
            player=player,
            status=Status.NEW,
            priority=priority,
            queue=queue,
            tags=clean_tags,
            context=context or {},
            created_at=now,
            updated_at=now,
            last_player_message_at=now,
            reopened_from=reopened_from,
            opening_text=text,
            message_count=1,
            version=1,
            mail_ids=(mail_id,) if mail_id else (),
            sender_verified=sender_verified,
        )
        # The ticket is validated above and the player checked here before a number is
        # taken: a refused ticket must not burn a number.
        player_key = player.key()
        ticket = ticket.model_copy(update={"number": self.store.next_number()})
        entry = HistoryEntry(
            id=new_entry_id(),
            ticket_id=ticket.id,
            number=ticket.number,
            seq=1,
            event="ticket.created",
            actor=actor,
            at=now,
            message=message,
        )
        # Never an empty mail_ids: the unique index would see every such ticket as equal.
        doc = ticket.model_dump(mode="python", exclude={"id", *([] if mail_id else ["mail_ids"])})
        config = self.sla()
        if config is not None:
            clocks = sla_clock.opened(config, ticket, now)
            doc.update(clocks)
            ticket = ticket.model_copy(update=clocks)
        # What the opening owes, less what it could gain nothing from (a lookup of a
        # player the ticket names no game account for).
        opened = Change(entry.event, ticket, now, message=message)
        kinds = self.subscriptions.kinds_for(entry.event, channel.value, change=opened)
        doc.update(
            _id=ObjectId(ticket.id),
            player_key=player_key,
            active=True,
            outbox=entry_record(entry, kinds),
        )
        self.store.tickets.insert_one(doc)
        self._dispatch(ticket.id, [r["key"] for r in doc["outbox"]], opening=True)
        return ticket

    def add_player_message(
        self,
        *,
        player: Player,
        channel: Channel,
        text: str,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        subject: str | None = None,
        context: Document | None = None,
        external_id: str | None = None,
        new: bool = False,
    ) -> Ticket:
        """Add to the player's current ticket on this channel, or open one (always, with
        `new`)."""
        message = player_message(channel, text, html, attachments, external_id)
        actor = player_actor(player, channel)
        if not new:
            # The player's latest ticket on this channel: one read serves both cases, a
            # follow-up on an open ticket, or a new ticket linked to a closed one.
            latest = self._change(
                latest_on_channel(player, channel),
                lambda current: (
                    None
                    if current.status is Status.CLOSED
                    else Action(
                        "message.received",
                        actor,
                        self.clock(),
                        player_message_updates(current, self.clock()),
                        message,
                    )
                ),
            )
            if latest is not None and latest.status is not Status.CLOSED:
                return latest
            if latest is not None and latest.merged_into is not None:
                return self.add_player_message_to(
                    latest.merged_into,
                    text=text,
                    channel=channel,
                    html=html,
                    attachments=attachments,
                )
        previous = None if new else latest
        recent = (
            previous is not None
            and previous.closed_at is not None
            and (previous.closed_at >= self.clock() - RECENTLY_CLOSED)
        )
        return self.open_ticket(
            player=player,
            channel=channel,
            text=text,
            actor=actor,
            subject=subject,
            html=html,
            attachments=attachments,
            context=context,
            external_id=external_id,
            reopened_from=previous.number if previous is not None and recent else None,
        )

    def add_player_message_to(
        self,
        number: int,
        *,
        text: str,
        channel: Channel,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        external_id: str | None = None,
        mail_id: str | None = None,
        via: str | None = None,
        original_ref: str | None = None,
        read: Document | None = None,
    ) -> Ticket:
        """A follow-up on a known ticket; on a closed one it opens a new linked ticket.
        A mail whose Message-Id the ticket has already is not added again. The player is
        its author; `via` names what carried it in, when not the channel (an API key).
        `read`: the ticket as the caller has just read it (see `_change`)."""
        message = player_message(channel, text, html, attachments, external_id, original_ref)
        adds = {"mail_ids": (mail_id,)} if mail_id else {}

        def decide(current: Ticket) -> Action | None:
            if current.status is Status.CLOSED or mail_id in current.mail_ids:
                return None  # closed: decided below (follow a merge, or open a linked ticket)
            now = self.clock()
            updates = player_message_updates(current, now)
            writer = player_actor(current.player, channel, via=via)
            return Action("message.received", writer, now, updates, message, adds=adds)

        for _ in range(MAX_REDIRECTS):
            ticket = self._required(number, self._change({"number": number}, decide, read=read))
            read = None  # it was this ticket's; a merge leads to another
            if ticket.status is not Status.CLOSED:
                return ticket
            if ticket.merged_into is not None:
                number = ticket.merged_into
                continue
            return self.open_ticket(
                player=ticket.player,
                channel=channel,
                text=text,
                html=html,
                attachments=attachments,
                subject=ticket.subject,
                queue=ticket.queue,
                reopened_from=ticket.number,
                external_id=external_id,
                mail_id=mail_id,
                sender_verified=ticket.sender_verified,
                actor=player_actor(ticket.player, channel, via=via),
                original_ref=original_ref,
            )
        raise TicketClosed(number)

    # ----------------------------------------------------------------- writing

    def _record(self, number: int, action: Action) -> Ticket:
        """Write an action that does not depend on the ticket's state (a note)."""
        return self._required(number, self._change({"number": number}, lambda _: action))

    # ----------------------------------------------------------------- writing

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
            if action is None:
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
                self._after_write(doc, result.keys)
                return result.ticket
            time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))  # let the winner finish
        raise ConcurrentUpdate(int(query.get("number", 0)))

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
