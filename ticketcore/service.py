"""TicketService: the one API every channel calls to change tickets."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import BulkWriteError

from ticketcore import lifecycle
from ticketcore.clock import Clock
from ticketcore.effects import CORE_SUBSCRIPTIONS, Dispatcher, NoDispatch, Subscriptions
from ticketcore.errors import CannotMerge, TicketClosed, TicketNotFound
from ticketcore.lifecycle import Status
from ticketcore.models import (
    MAX_SUBJECT,
    MAX_TAG,
    Actor,
    ActorKind,
    Attachment,
    Channel,
    HistoryEntry,
    Message,
    MessageKind,
    MessagePage,
    Player,
    Priority,
    Ticket,
)
from ticketcore.outbox import HISTORY_STORE, Outbox, effect_key, new_record
from ticketcore.store import Document, Store, entry_document, to_entry, to_ticket
from ticketcore.writes import (
    Action,
    entry_from_record,
    entry_record,
    is_worth_keeping,
    lit,
    new_entry_id,
    pipeline,
    previous,
    reopen_on_player_message,
    status_fields,
)

log = logging.getLogger(__name__)

UNSET: Any = object()

# Stored history records are pulled off the ticket by the worker; if it is away for long,
# the request path trims them itself so one busy ticket never nears the 16 MB limit.
MAX_CARRIED_HISTORY = 50
MAX_REDIRECTS = 5


def subject_from(text: str) -> str:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    subject = first_line or "(no subject)"
    return subject if len(subject) <= MAX_SUBJECT else subject[: MAX_SUBJECT - 1] + "…"


def carried_entries(ticket: Document) -> list[HistoryEntry]:
    """History entries still riding in the ticket's outbox, waiting to be stored."""
    entries = (
        entry_from_record(ticket, r) for r in ticket.get("outbox", []) if r["kind"] == HISTORY_STORE
    )
    return [entry for entry in entries if is_worth_keeping(entry)]


def normalise_tags(tags: Iterable[str]) -> list[str]:
    cleaned = sorted({t.strip().lower() for t in tags if t.strip()})
    for tag in cleaned:
        if len(tag) > MAX_TAG:
            raise ValueError(f"tag is longer than {MAX_TAG} characters: {tag[:20]}…")
    return cleaned


class TicketService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        dispatcher: Dispatcher | None = None,
        subscriptions: Subscriptions | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.outbox = outbox or Outbox(store)
        self.dispatcher: Dispatcher = dispatcher or NoDispatch()
        self.subscriptions = subscriptions or Subscriptions(CORE_SUBSCRIPTIONS)

    # ----------------------------------------------------------------- reading

    def get(self, number: int) -> Ticket:
        doc = self.store.tickets.find_one({"number": number}, {"outbox": 0})
        if doc is None:
            raise TicketNotFound(number)
        return to_ticket(doc)

    def find(
        self,
        *,
        status: Status | None = None,
        player_id: str | None = None,
        assignee: str | None = None,
        before_number: int | None = None,
        limit: int = 50,
    ) -> list[Ticket]:
        """Tickets newest first; page on with `before_number` set to the last one seen."""
        query: Document = {}
        if status is not None:
            query["status"] = status.value
        if player_id is not None:
            query["player.player_id"] = player_id
        if assignee is not None:
            query["assignee"] = assignee
        if before_number is not None:
            query["number"] = {"$lt": before_number}
        cursor = self.store.tickets.find(query, {"outbox": 0}).sort("number", DESCENDING)
        return [to_ticket(doc) for doc in cursor.limit(limit)]

    def messages(
        self, ticket: Ticket, *, before: int | None = None, limit: int = 100
    ) -> MessagePage:
        """The latest `limit` messages before seq `before`, oldest first."""
        return self._entries(ticket.number, before, limit, messages_only=True)

    def history(
        self, ticket: Ticket, *, before: int | None = None, limit: int = 100
    ) -> MessagePage:
        return self._entries(ticket.number, before, limit, messages_only=False)

    def entry(self, ticket: Document, entry_id: str) -> HistoryEntry:
        """One history entry of a raw ticket document, stored or still carried."""
        for entry in carried_entries(ticket):
            if entry.id == entry_id:
                return entry
        doc = self.store.history.find_one({"_id": entry_id})
        if doc is None:
            raise LookupError(f"history entry {entry_id} of ticket #{ticket['number']} is missing")
        return to_entry(doc)

    def _entries(
        self, number: int, before: int | None, limit: int, *, messages_only: bool
    ) -> MessagePage:
        """Stored entries merged with those the ticket still carries in its outbox.

        The ticket is read before the history, so an entry a worker moves in between is
        seen in one place or the other, never in neither.
        """
        doc = self.store.tickets.find_one({"number": number}, {"number": 1, "outbox": 1})
        if doc is None:
            raise TicketNotFound(number)
        carried = [
            entry
            for entry in carried_entries(doc)
            if (entry.message is not None or not messages_only)
            and (before is None or entry.seq < before)
        ]
        query: Document = {"ticket_id": doc["_id"]}
        if messages_only:
            query["is_message"] = True
        if before is not None:
            query["seq"] = {"$lt": before}
        newest = self.store.history.find(query).sort("seq", DESCENDING).limit(limit + 1)
        by_id = {entry.id: entry for entry in map(to_entry, newest)}
        by_id.update((entry.id, entry) for entry in carried)
        ordered = sorted(by_id.values(), key=lambda entry: entry.seq)
        items = tuple(ordered[-limit:])
        more = len(ordered) > limit
        return MessagePage(items=items, before=items[0].seq if more and items else None)

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
    ) -> Ticket:
        """Open a new ticket with the player's first message."""
        actor = actor or self._player_actor(player, channel)
        message = Message(
            kind=MessageKind.PLAYER,
            channel=channel,
            text=text,
            html=html,
            attachments=tuple(attachments),
        )
        title = subject.strip() if subject and subject.strip() else subject_from(text)
        clean_tags = normalise_tags(tags)
        player.key()  # refuse an anonymous player before a number is taken
        now = self.clock()
        number = self.store.next_number()
        action = Action(event="ticket.created", actor=actor, at=now, message=message)
        entry_id = new_entry_id()
        record = entry_record(action, entry_id)
        record.update(seq=1, before={}, after={})
        kinds = self.subscriptions.kinds_for(action.event)
        doc: Document = {
            "number": number,
            "subject": title[:MAX_SUBJECT],
            "channel": channel.value,
            "player": player.model_dump(mode="python"),
            "player_key": player.key(),
            "status": Status.NEW.value,
            "active": True,
            "priority": priority.value,
            "assignee": None,
            "queue": queue,
            "tags": clean_tags,
            "context": context or {},
            "created_at": now,
            "updated_at": now,
            "last_player_message_at": now,
            "reopened_from": reopened_from,
            "message_count": 1,
            "version": 1,
            "outbox": [record, *(new_record(kind, entry_id, now) for kind in kinds)],
        }
        self.store.tickets.insert_one(doc)
        self._dispatch(doc, entry_id)
        return to_ticket(doc)

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
    ) -> Ticket:
        """Add to the player's current ticket on this channel, or open one."""
        actor = self._player_actor(player, channel)
        message = Message(
            kind=MessageKind.PLAYER,
            channel=channel,
            text=text,
            html=html,
            attachments=tuple(attachments),
        )
        action = self._player_message_action(actor, message)
        ticket = self._write(
            {"player_key": player.key(), "channel": channel.value, "active": True},
            action,
            sort={"number": DESCENDING},
        )
        if ticket is not None:
            return ticket
        return self.open_ticket(
            player=player,
            channel=channel,
            text=text,
            actor=actor,
            subject=subject,
            html=html,
            attachments=attachments,
            context=context,
        )

    def add_player_message_to(
        self,
        number: int,
        *,
        text: str,
        channel: Channel,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> Ticket:
        """A follow-up on a known ticket; on a closed one it opens a new linked ticket."""
        message = Message(
            kind=MessageKind.PLAYER,
            channel=channel,
            text=text,
            html=html,
            attachments=tuple(attachments),
        )
        for _ in range(MAX_REDIRECTS):
            current = self.get(number)
            action = self._player_message_action(
                self._player_actor(current.player, channel), message
            )
            ticket = self._write({"number": number, "active": True}, action)
            if ticket is not None:
                return ticket
            current = self.get(number)
            if current.merged_into is not None:
                number = current.merged_into
                continue
            return self.open_ticket(
                player=current.player,
                channel=channel,
                text=text,
                html=html,
                attachments=attachments,
                subject=current.subject,
                queue=current.queue,
                reopened_from=current.number,
            )
        raise TicketClosed(number)

    def _player_message_action(self, actor: Actor, message: Message) -> Action:
        now = self.clock()
        sets = {**reopen_on_player_message(), "last_player_message_at": lit(now)}
        return Action(event="message.received", actor=actor, at=now, sets=sets, message=message)

    @staticmethod
    def _player_actor(player: Player, channel: Channel) -> Actor:
        return Actor(
            kind=ActorKind.PLAYER, id=player.key(), name=player.display_name, via=channel.value
        )

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
        ticket = self.get(number)
        if ticket.status is Status.CLOSED:
            raise TicketClosed(number)
        now = self.clock()
        message = Message(kind=MessageKind.REPLY, channel=ticket.channel, text=text, html=html)
        sets = {
            **status_fields(status, now),
            "first_response_at": {"$ifNull": [previous("first_response_at"), lit(now)]},
            "last_agent_reply_at": lit(now),
        }
        action = Action(event="reply.sent", actor=actor, at=now, sets=sets, message=message)
        return self._guarded(number, action, status)

    def add_note(self, number: int, *, actor: Actor, text: str) -> Ticket:
        """An internal note: the team sees it, the player never does."""
        ticket = self.get(number)
        message = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=text)
        action = Action(event="note.added", actor=actor, at=self.clock(), message=message)
        return self._required(number, self._write({"_id": ObjectId(ticket.id)}, action))

    def take(self, number: int, *, actor: Actor) -> Ticket:
        """Assign to whoever took it; a new ticket moves to inprogress."""
        sets = {
            "assignee": lit(actor.id),
            "status": {
                "$cond": [
                    {"$eq": [previous("status"), Status.NEW.value]},
                    Status.INPROGRESS.value,
                    previous("status"),
                ]
            },
        }
        action = Action(event="ticket.assigned", actor=actor, at=self.clock(), sets=sets)
        ticket = self._write({"number": number, "active": True}, action)
        return ticket if ticket is not None else self._explain_refusal(number, None)

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
        now = self.clock()
        sets: dict[str, Any] = {}
        events = []
        if status is not None:
            sets.update(status_fields(status, now))
            events.append("ticket.status_changed")
        if priority is not None:
            sets["priority"] = lit(priority.value)
            events.append("ticket.priority_changed")
        if assignee is not UNSET:
            sets["assignee"] = lit(assignee)
            events.append("ticket.assigned")
        if queue is not UNSET:
            sets["queue"] = lit(queue)
            events.append("ticket.queue_changed")
        added, removed = normalise_tags(add_tags), normalise_tags(remove_tags)
        if set_tags is not None:
            sets["tags"] = lit(normalise_tags(set_tags))
            events.append("ticket.tags_changed")
        elif added or removed:
            tags: Any = {"$ifNull": [previous("tags"), []]}
            if added:
                tags = {"$setUnion": [tags, lit(added)]}
            if removed:
                tags = {"$setDifference": [tags, lit(removed)]}
            sets["tags"] = {"$sortArray": {"input": tags, "sortBy": 1}}
            events.append("ticket.tags_changed")
        if not events:
            return self.get(number)
        event = events[0] if len(events) == 1 else "ticket.updated"
        action = Action(event=event, actor=actor, at=now, sets=sets)
        return self._guarded(number, action, status)

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
        now = self.clock()
        note = Message(
            kind=MessageKind.NOTE,
            channel=Channel.SLACK,
            text=f"Ticket #{number} ({source.subject}) was merged into this one.",
        )
        self._required(
            into,
            self._write(
                {"number": into},
                Action(event="ticket.merge_received", actor=actor, at=now, message=note),
            ),
        )
        sets = {**status_fields(Status.CLOSED, now), "merged_into": lit(into)}
        action = Action(event="ticket.merged", actor=actor, at=now, sets=sets)
        return self._required(number, self._write({"number": number, "merged_into": None}, action))

    # ----------------------------------------------------------------- writing

    def _guarded(self, number: int, action: Action, status: Status | None) -> Ticket:
        """Write `action` only if the ticket may move to `status` from where it is now."""
        query: Document = {"number": number}
        if status is not None:
            sources = [s.value for s in Status if lifecycle.is_allowed(s, status) or s is status]
            query["status"] = {"$in": sources}
        ticket = self._write(query, action)
        return ticket if ticket is not None else self._explain_refusal(number, status)

    def _explain_refusal(self, number: int, status: Status | None) -> Ticket:
        current = self.get(number)
        if status is not None:
            lifecycle.check_transition(number, current.status, status)
        raise TicketClosed(number)

    def _required(self, number: int, ticket: Ticket | None) -> Ticket:
        if ticket is None:
            raise TicketNotFound(number)
        return ticket

    def _write(
        self, query: Document, action: Action, sort: Document | None = None
    ) -> Ticket | None:
        """Apply `action` to the ticket matching `query` in one atomic update."""
        entry_id = new_entry_id()
        kinds = self.subscriptions.kinds_for(action.event)
        # update_one, then a read by the new outbox key: two index-backed commands, where
        # a findAndModify would be one on MongoDB but scans the collection on the embedded
        # server.
        written = self.store.tickets.update_one(query, pipeline(action, entry_id, kinds), sort=sort)
        if written.matched_count == 0:
            return None
        doc = self._written(entry_id)
        self._after_write(doc, entry_id)
        return to_ticket(doc)

    def _written(self, entry_id: str) -> Document:
        """The ticket just written, found by the history record the write appended."""
        doc = self.store.tickets.find_one({"outbox.key": effect_key(HISTORY_STORE, entry_id)})
        if doc is None:  # a worker already stored the entry and dropped the record
            entry = self.store.history.find_one({"_id": entry_id}, {"ticket_id": 1})
            doc = self.store.tickets.find_one({"_id": entry["ticket_id"]}) if entry else None
        if doc is None:
            raise LookupError(f"ticket written by entry {entry_id} has vanished")
        return doc

    def _after_write(self, ticket: Document, entry_id: str) -> None:
        carried = [r for r in ticket["outbox"] if r["kind"] == HISTORY_STORE]
        if len(carried) > MAX_CARRIED_HISTORY:
            self._flush_history(ticket, carried)
        self._dispatch(ticket, entry_id)

    def _flush_history(self, ticket: Document, records: list[Document]) -> None:
        """Store carried entries inline: the worker is behind, and one document must not
        grow without bound (MongoDB's 16 MB limit)."""
        log.warning(
            "ticket #%s carries %d unstored history entries; is a worker running?",
            ticket["number"],
            len(records),
        )
        entries = [entry_document(e) for e in carried_entries(ticket)]
        if entries:
            with suppress(BulkWriteError):  # some were stored meanwhile: duplicates
                self.store.history.insert_many(entries, ordered=False)
        self.outbox.complete_many(str(ticket["_id"]), [r["key"] for r in records])

    def _dispatch(self, ticket: Document, entry_id: str) -> None:
        keys = [r["key"] for r in ticket["outbox"] if r.get("entry_id") == entry_id]
        try:
            self.dispatcher.dispatch(str(ticket["_id"]), keys)
        except Exception:  # the change is stored; the sweeper will deliver what it owes
            log.exception("could not schedule effects of ticket #%s", ticket["number"])
