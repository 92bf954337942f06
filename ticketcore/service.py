"""TicketService: the one API every channel calls to change tickets."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from ticketcore import sla, sla_clock
from ticketcore.clock import Clock
from ticketcore.effects import CORE_SUBSCRIPTIONS, Dispatcher, NoDispatch, Subscriptions
from ticketcore.errors import CannotMerge, ConcurrentUpdate, TicketClosed, TicketNotFound
from ticketcore.lifecycle import Status
from ticketcore.models import (
    LOW_CSAT,
    MAX_SUBJECT,
    SYSTEM,
    Actor,
    ActorKind,
    Attachment,
    Channel,
    Csat,
    HistoryEntry,
    Message,
    MessageKind,
    Player,
    Priority,
    Ticket,
)
from ticketcore.outbox import HISTORY_STORE, Outbox
from ticketcore.players import Directory
from ticketcore.queries import PRIORITY_ORDER, RECENTLY_CLOSED, TicketQueries, carried_entries
from ticketcore.sla import SlaConfig
from ticketcore.store import (
    Document,
    Store,
    save_entries,
    to_entry,
    to_ticket,
)
from ticketcore.writes import (
    Action,
    entry_record,
    event_for,
    is_worth_keeping,
    new_entry_id,
    normalise_tags,
    outcome,
    player_actor,
    player_message,
    player_message_updates,
    reply_updates,
    status_updates,
    subject_from,
    take_updates,
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


class TicketService(TicketQueries):
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
        self.subscriptions = subscriptions or Subscriptions(CORE_SUBSCRIPTIONS)
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
    ) -> Ticket:
        """Open a new ticket with the player's first message (`mail_id`: its Message-Id,
        when it came by mail; DuplicateKeyError if another ticket already has it)."""
        message = player_message(channel, text, html, attachments, external_id)
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
            doc.update(sla_clock.opened(config, ticket, now))
        doc.update(
            _id=ObjectId(ticket.id),
            player_key=player_key,
            active=True,
            outbox=entry_record(entry, self.subscriptions.kinds_for(entry.event)),
        )
        self.store.tickets.insert_one(doc)
        self._dispatch(ticket.id, [r["key"] for r in doc["outbox"]])
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
                {"player_key": player.key(), "channel": channel.value},
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
    ) -> Ticket:
        """A follow-up on a known ticket; on a closed one it opens a new linked ticket.
        A mail whose Message-Id the ticket has already is not added again."""
        message = player_message(channel, text, html, attachments, external_id)
        adds = {"mail_ids": (mail_id,)} if mail_id else {}

        def decide(current: Ticket) -> Action | None:
            if current.status is Status.CLOSED or mail_id in current.mail_ids:
                return None  # closed: decided below (follow a merge, or open a linked ticket)
            now = self.clock()
            updates = player_message_updates(current, now)
            actor = player_actor(current.player, channel)
            return Action("message.received", actor, now, updates, message, adds=adds)

        for _ in range(MAX_REDIRECTS):
            ticket = self._required(number, self._change({"number": number}, decide))
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
            )
        raise TicketClosed(number)

    def receive_mail(
        self,
        *,
        player: Player,
        message_id: str,
        text: str,
        subject: str | None = None,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        thread_ids: Sequence[str] = (),
        subject_number: int | None = None,
    ) -> tuple[Ticket, bool]:
        """A player's mail: onto the ticket whose conversation it answers (its In-Reply-To
        or References name a Message-Id of the ticket), or the ticket its subject names
        (`[#1234]`) when it is that ticket's player writing; else a new ticket. Returns the
        ticket and whether the mail was new (False: the same Message-Id was seen before)."""
        seen = self.store.tickets.find_one({"mail_ids": message_id}, {"number": 1})
        if seen is not None:
            return self.get(seen["number"]), False
        number = self._mail_thread(player, thread_ids, subject_number)
        mail: dict[str, Any] = {
            "text": text,
            "html": html,
            "attachments": attachments,
            "external_id": message_id,
            "mail_id": message_id,
        }
        try:
            if number is not None:
                ticket = self.add_player_message_to(number, channel=Channel.EMAIL, **mail)
            else:
                ticket = self.open_ticket(
                    player=player, channel=Channel.EMAIL, subject=subject, **mail
                )
        except DuplicateKeyError:  # the same mail, delivered twice at the same moment
            seen = self.store.tickets.find_one({"mail_ids": message_id}, {"number": 1})
            if seen is None:
                raise
            return self.get(seen["number"]), False
        return ticket, True

    def _mail_thread(
        self, player: Player, thread_ids: Sequence[str], subject_number: int | None
    ) -> int | None:
        if thread_ids:
            doc = self.store.tickets.find_one(
                {"mail_ids": {"$in": list(thread_ids)}},
                {"number": 1},
                sort=[("number", DESCENDING)],
            )
            if doc is not None:
                return int(doc["number"])
        if subject_number is not None and player.email is not None:
            doc = self.store.tickets.find_one(
                {"number": subject_number, "player.email": player.email}, {"number": 1}
            )
            if doc is not None:
                return int(doc["number"])
        return None

    def remember_mail_id(self, ticket_id: str, message_id: str) -> None:
        """Record the Message-Id of a mail we send, before sending it: the player's answer
        names it, and finds this ticket even if the sender crashed right after."""
        self.store.tickets.update_one(
            {"_id": ObjectId(ticket_id)}, {"$addToSet": {"mail_ids": message_id}}
        )

    def flow_fired(
        self,
        number: int,
        *,
        rule: str,
        trigger: str,
        notify: Sequence[Mapping[str, str]] = (),
        reply: str | None = None,
        problems: Sequence[str] = (),
    ) -> Ticket | None:
        """Record that a flow rule fired on the event `trigger` (a history entry id), with
        the notifications it sends and the auto-reply it gives: once per rule and event,
        however often the flow's job runs. None if it was recorded before."""
        key = f"{trigger}:{rule}"
        actor = Actor(kind=ActorKind.SYSTEM, id=f"flow:{rule}"[:200], via="flow")
        fired = False

        def decide(current: Ticket) -> Action | None:
            nonlocal fired
            if key in current.flow_runs:
                return None
            fired = True
            message = None
            if reply is not None and current.status is not Status.CLOSED:
                message = Message(kind=MessageKind.REPLY, channel=current.channel, text=reply)
            data = {"rule": rule, "trigger": trigger, "notify": [dict(n) for n in notify]}
            if problems:
                data["problems"] = list(problems)
            return Action(
                "flow.fired",
                actor,
                self.clock(),
                {},
                message,
                data=data,
                adds={"flow_runs": (key,)},
            )

        ticket = self._required(number, self._change({"number": number}, decide))
        return ticket if fired else None

    def auto_close(
        self,
        *,
        answered_after: timedelta,
        resolved_after: timedelta,
        notice: Callable[[Ticket], str | None] = lambda ticket: None,
        limit: int = 500,
    ) -> tuple[list[int], list[int]]:
        """Tidy up quiet tickets: `answered` with no word from the player for
        `answered_after` become resolved (telling the player, where `notice` has a text for
        them), and `resolved` ones become closed after `resolved_after`. Returns the numbers
        resolved and the numbers closed; at most `limit` of each per call."""
        now = self.clock()
        actor = Actor(kind=ActorKind.SYSTEM, id="autoclose", via="autoclose")
        resolved: list[int] = []
        closed: list[int] = []

        def quiet(current: Ticket) -> Action | None:
            reply_at = current.last_agent_reply_at
            if current.status is not Status.ANSWERED or reply_at is None:
                return None
            if reply_at > now - answered_after:
                return None
            text = notice(current)
            updates = status_updates(current, Status.RESOLVED, now)
            if text is None:
                return Action("ticket.status_changed", actor, now, updates, data={"auto": True})
            message = Message(kind=MessageKind.REPLY, channel=current.channel, text=text)
            updates = reply_updates(current, Status.RESOLVED, now)
            return Action("reply.sent", actor, now, updates, message, data={"auto": True})

        def done(current: Ticket) -> Action | None:
            if current.status is not Status.RESOLVED or current.resolved_at is None:
                return None
            if current.resolved_at > now - resolved_after:
                return None
            updates = status_updates(current, Status.CLOSED, now)
            return Action("ticket.status_changed", actor, now, updates, data={"auto": True})

        for status, field, decide, numbers in (
            (Status.ANSWERED, "last_agent_reply_at", quiet, resolved),
            (Status.RESOLVED, "resolved_at", done, closed),
        ):
            cutoff = now - (answered_after if status is Status.ANSWERED else resolved_after)
            due = self.store.tickets.find(
                {"status": status.value, field: {"$lte": cutoff}}, {"number": 1}
            ).limit(limit)
            for doc in due:
                before = doc["number"]
                ticket = self._change({"_id": doc["_id"]}, decide)
                if ticket is not None and ticket.updated_at == now:
                    numbers.append(before)
        return resolved, closed

    def raise_sla_alerts(self, limit: int = 500) -> list[tuple[int, str, str]]:
        """Raise every SLA warning and breach that is due, each once per ticket and target,
        as `sla.warning` / `sla.breached` events; (number, target, kind) of each raised."""
        now = self.clock()
        raised: list[tuple[int, str, str]] = []
        due = self.store.tickets.find({"sla_next_check": {"$lte": now}}, {"number": 1})
        for doc in due.limit(limit):
            while True:
                ticket, alert = self._raise_sla_alert(doc["_id"], now)
                if ticket is None or alert is None:
                    break
                raised.append((ticket.number, *alert))
            if ticket is not None:  # settled: make sure the next look is in the future
                fields = sla_clock.stored(sla_clock.state_of(ticket))
                self.store.tickets.update_one(
                    {"_id": doc["_id"], "version": ticket.version},
                    {"$set": {"sla_next_check": fields["sla_next_check"]}},
                )
        return raised

    def _raise_sla_alert(
        self, ticket_id: ObjectId, now: datetime
    ) -> tuple[Ticket | None, tuple[str, str] | None]:
        """Raise the first due SLA alert of one ticket; the ticket and the alert raised."""
        raised: list[tuple[str, str]] = []

        def decide(current: Ticket) -> Action | None:
            state = sla_clock.state_of(current)
            alerts = sla.due_alerts(state, now) if state is not None else []
            if state is None or not alerts:
                return None
            raised[:] = alerts[:1]
            name, kind = alerts[0]
            after = sla.mark_raised(state, alerts[:1])
            data = {"target": name, "due_at": after.targets[name].due_at, "policy": state.policy}
            return Action(f"sla.{kind}", SYSTEM, now, sla_clock.stored(after), data=data)

        ticket = self._change({"_id": ticket_id}, decide)
        return ticket, (raised[0] if raised else None)

    def delivery_failed(self, number: int, *, channel: Channel, reason: str) -> Ticket:
        """An outward delivery failed for good (an address refused): agents must see it."""
        problem = f"{channel.value}: {reason}"[:500]

        def decide(current: Ticket) -> Action:
            return Action("delivery.failed", SYSTEM, self.clock(), {"delivery_problem": problem})

        return self._required(number, self._change({"number": number}, decide))

    # ----------------------------------------------------------------- agents

    def reply(
        self,
        number: int,
        *,
        actor: Actor,
        text: str,
        html: str | None = None,
        status: Status = Status.ANSWERED,
    ) -> Ticket:
        """Answer the player; the answer leaves through the outbox on the ticket's channel."""
        if status not in (Status.ANSWERED, Status.WAITING, Status.RESOLVED):
            raise ValueError("a reply leaves the ticket answered, waiting or resolved")

        def decide(current: Ticket) -> Action:
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            now = self.clock()
            message = Message(kind=MessageKind.REPLY, channel=current.channel, text=text, html=html)
            return Action("reply.sent", actor, now, reply_updates(current, status, now), message)

        return self._required(number, self._change({"number": number}, decide))

    def add_note(self, number: int, *, actor: Actor, text: str) -> Ticket:
        """An internal note: the team sees it, the player never does."""
        note = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=text)
        return self._record(number, Action("note.added", actor, self.clock(), {}, note))

    def take(self, number: int, *, actor: Actor) -> Ticket:
        """Assign to whoever took it; a new ticket moves to inprogress."""

        def decide(current: Ticket) -> Action:
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            return Action("ticket.assigned", actor, self.clock(), take_updates(current, actor))

        return self._required(number, self._change({"number": number}, decide))

    def assign(self, number: int, assignee: str | None, *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, assignee=assignee)

    def set_status(self, number: int, status: Status, *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, status=status)

    def set_priority(self, number: int, priority: Priority, *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, priority=priority)

    def tag(self, number: int, tags: Iterable[str], *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, add_tags=tags)

    def untag(self, number: int, tags: Iterable[str], *, actor: Actor) -> Ticket:
        return self.change(number, actor=actor, remove_tags=tags)

    def change(
        self,
        number: int,
        *,
        actor: Actor,
        status: Status | None = None,
        priority: Priority | None = None,
        assignee: str | None = UNSET,
        queue: str | None = UNSET,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        set_tags: Iterable[str] | None = None,
    ) -> Ticket:
        """Change several fields in one atomic step with one history entry."""
        added, removed = normalise_tags(add_tags), normalise_tags(remove_tags)
        replaced = None if set_tags is None else normalise_tags(set_tags)

        def decide(current: Ticket) -> Action:
            now = self.clock()
            updates: dict[str, Any] = {}
            if status is not None:
                updates.update(status_updates(current, status, now))
            if priority is not None:
                updates["priority"] = priority
            if assignee is not UNSET:
                updates["assignee"] = assignee
            if queue is not UNSET:
                updates["queue"] = queue
            if replaced is not None:
                updates["tags"] = replaced
            elif added or removed:
                updates["tags"] = tuple(sorted((set(current.tags) | set(added)) - set(removed)))
            return Action(event_for(updates), actor, now, updates)

        return self._required(number, self._change({"number": number}, decide))

    def escalate(self, number: int, *, actor: Actor, reason: str | None = None) -> Ticket:
        """Hand a ticket to the leads: at least high priority, tagged, and leads alerted."""

        def decide(current: Ticket) -> Action:
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            now = self.clock()
            updates: dict[str, Any] = {
                "tags": tuple(sorted({*current.tags, ESCALATED_TAG})),
                # Each escalation is a fresh alert, repeated until a lead acknowledges it.
                "escalation": {
                    "at": now,
                    "by": actor.id,
                    "reason": reason,
                    "acked_by": None,
                    "acked_at": None,
                    "repeats": 0,
                    "last_alert_at": now,
                },
            }
            if PRIORITY_ORDER.index(current.priority) < PRIORITY_ORDER.index(Priority.HIGH):
                updates["priority"] = Priority.HIGH
            note = None
            if reason:
                note = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=reason)
            data = {"reason": reason} if reason else {"by": actor.id}
            return Action("ticket.escalated", actor, now, updates, note, data=data)

        return self._required(number, self._change({"number": number}, decide))

    def acknowledge(self, number: int, *, actor: Actor) -> Ticket:
        """A lead has seen the escalation: record who, and stop repeating the alert."""

        def decide(current: Ticket) -> Action | None:
            escalation = current.escalation
            if escalation is None or escalation.get("acked_at") is not None:
                return None  # nothing to acknowledge, or someone was quicker
            now = self.clock()
            acked = {**escalation, "acked_by": actor.id, "acked_at": now}
            data = {"acked_by": actor.id}
            return Action("escalation.acknowledged", actor, now, {"escalation": acked}, data=data)

        return self._required(number, self._change({"number": number}, decide))

    def repeat_escalations(self, *, every: timedelta, limit: int) -> list[int]:
        """Alert the leads again about escalations nobody acknowledged within `every`, at
        most `limit` times each; the numbers of the tickets alerted again."""
        now = self.clock()
        due = self.store.tickets.find(
            {
                "escalation.last_alert_at": {"$lte": now - every},
                "escalation.acked_at": None,
                "escalation.repeats": {"$lt": limit},
                "active": True,
            },
            {"number": 1},
        )
        repeated = []
        for doc in due:

            def decide(current: Ticket) -> Action | None:
                escalation = current.escalation or {}
                if (
                    escalation.get("acked_at") is not None
                    or escalation.get("repeats", 0) >= limit
                    or escalation["last_alert_at"] > now - every
                    or current.status is Status.CLOSED
                ):
                    return None
                repeats = escalation["repeats"] + 1
                again = {**escalation, "repeats": repeats, "last_alert_at": now}
                data = {"repeat": repeats, "of": limit}
                return Action("escalation.repeated", SYSTEM, now, {"escalation": again}, data=data)

            ticket = self._change({"_id": doc["_id"]}, decide)
            if (
                ticket is not None
                and ticket.escalation
                and ticket.escalation["last_alert_at"] == now
            ):
                repeated.append(ticket.number)
        return repeated

    def edit_player_message(
        self,
        *,
        player: Player,
        channel: Channel,
        external_id: str,
        text: str,
        attachments: Sequence[Attachment] = (),
    ) -> Ticket:
        """A player edited a message: keep both versions, the new one pointing at the old.
        An edit of a message we never saw is taken as a new message, so nothing is lost."""
        message = player_message(channel, text, None, attachments, external_id)
        original = self._entry_by_external_id(external_id, player, channel)
        if original is None:
            return self.add_player_message(
                player=player,
                channel=channel,
                text=text,
                attachments=attachments,
                external_id=external_id,
            )
        action = Action(
            "message.edited",
            player_actor(player, channel),
            self.clock(),
            {},
            message,
            edit_of=original.id,
        )
        return self._record(original.number, action)

    def _entry_by_external_id(
        self, external_id: str, player: Player, channel: Channel
    ) -> HistoryEntry | None:
        doc = self.store.history.find_one({"message.external_id": external_id})
        if doc is not None:
            return to_entry(doc)
        # Not stored yet: look among what the player's current ticket still carries.
        query = {"player_key": player.key(), "channel": channel.value, "active": True}
        ticket = self.store.tickets.find_one(query, {"number": 1, "outbox": 1})
        for entry in carried_entries(ticket or {}):
            if entry.message is not None and entry.message.external_id == external_id:
                return entry
        return None

    def set_player(self, number: int, player: Player, *, actor: Actor) -> Ticket:
        """Correct who the ticket's player is (an agent learned the player id)."""
        action = Action("ticket.player_changed", actor, self.clock(), {"player": player})
        return self._record(number, action)

    def bind_player_id(self, telegram_user_id: int, player_id: str, *, actor: Actor) -> int:
        """The game vouched that this Telegram user is `player_id`: remember it, and put it
        on the user's open tickets. Returns how many tickets changed."""
        Directory(self.store).link_telegram(telegram_user_id, player_id, self.clock())
        query = {"player.telegram_user_id": telegram_user_id, "active": True}
        numbers = [d["number"] for d in self.store.tickets.find(query, {"number": 1})]
        for number in numbers:

            def decide(current: Ticket) -> Action:
                player = current.player.model_copy(update={"player_id": player_id})
                return Action("ticket.player_changed", actor, self.clock(), {"player": player})

            self._change({"number": number}, decide)
        return len(numbers)

    def rate(self, number: int, score: int, *, actor: Actor) -> Ticket:
        """The player's satisfaction with how a resolved ticket went (1 to 5)."""

        def decide(current: Ticket) -> Action:
            if current.status not in (Status.RESOLVED, Status.CLOSED):
                raise ValueError(f"ticket #{number} is not resolved; nothing to rate")
            csat = Csat(score=score, at=self.clock())
            event = "csat.low" if score <= LOW_CSAT else "csat.received"
            return Action(event, actor, csat.at, {"csat": csat})

        return self._required(number, self._change({"number": number}, decide))

    def merge(self, number: int, into: int, *, actor: Actor) -> Ticket:
        """Close `number` as a duplicate of `into`; later player messages follow it there."""
        if number == into:
            raise CannotMerge(number, into, "a ticket cannot be merged into itself")
        source, target = self.get(number), self.get(into)
        if target.status is Status.CLOSED:
            raise CannotMerge(number, into, f"#{into} is closed")
        if source.merged_into is not None:
            raise CannotMerge(
                number, into, f"#{number} is already merged into #{source.merged_into}"
            )
        note = Message(
            kind=MessageKind.NOTE,
            channel=Channel.SLACK,
            text=f"Ticket #{number} ({source.subject}) was merged into this one.",
        )
        self._record(into, Action("ticket.merge_received", actor, self.clock(), {}, note))

        def decide(current: Ticket) -> Action:
            if current.merged_into is not None:
                raise CannotMerge(number, into, f"#{number} was merged meanwhile")
            now = self.clock()
            updates = {**status_updates(current, Status.CLOSED, now), "merged_into": into}
            return Action("ticket.merged", actor, now, updates)

        return self._required(number, self._change({"number": number}, decide))

    def _record(self, number: int, action: Action) -> Ticket:
        """Write an action that does not depend on the ticket's state (a note)."""
        return self._required(number, self._change({"number": number}, lambda _: action))

    # ----------------------------------------------------------------- writing

    def _change(self, query: Document, decide: Decide) -> Ticket | None:
        """Read the ticket matching `query`, decide, and store the outcome if nobody wrote
        in between (compare-and-set on the version); on a conflict, read and decide again.

        Returns None when no ticket matches; the current ticket, unchanged, when `decide`
        declines (returns None) or the action changes nothing and says nothing.
        """
        for attempt in range(MAX_ATTEMPTS):
            doc = self.store.tickets.find_one(query, WITHOUT_BODIES, sort=[("number", DESCENDING)])
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
            effects = self.subscriptions.kinds_for(action.event)
            result = outcome(current, action, effects)
            if not is_worth_keeping(result.entry):
                return current
            written = self.store.tickets.update_one(
                {"_id": doc["_id"], "version": current.version}, result.update
            )
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

    def _dispatch(self, ticket_id: str, keys: Sequence[str]) -> None:
        try:
            self.dispatcher.dispatch(ticket_id, keys)
        except Exception:  # the change is stored; the sweeper will deliver what it owes
            log.exception("could not schedule effects of ticket %s", ticket_id)
