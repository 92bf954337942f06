"""What agents do to tickets: reply, note, take and assign, set status, priority, queue
and tags, escalate and acknowledge, merge, correct the player."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ticketcore.errors import (
    CannotMerge,
    TicketClosed,
)
from ticketcore.events import Event
from ticketcore.lifecycle import Status
from ticketcore.models import (
    Actor,
    Channel,
    Message,
    MessageKind,
    Player,
    Priority,
    Ticket,
)
from ticketcore.queries import PRIORITY_ORDER
from ticketcore.writer import ESCALATED_TAG, UNSET, TicketWriter
from ticketcore.writes import (
    Action,
    event_for,
    normalise_tags,
    reply_updates,
    status_updates,
    take_updates,
)


class AgentChanges(TicketWriter):
    """The agents' side of TicketService."""

    def reply(
        self,
        number: int,
        *,
        actor: Actor,
        text: str,
        html: str | None = None,
        status: Status = Status.ANSWERED,
        once: str | None = None,
    ) -> Ticket:
        """Answer the player; the answer leaves through the outbox on the ticket's channel.
        With `once` (a key), a second call with the same key answers nothing."""
        if status not in (Status.ANSWERED, Status.WAITING, Status.RESOLVED):
            raise ValueError("a reply leaves the ticket answered, waiting or resolved")

        def decide(current: Ticket) -> Action | None:
            if once is not None and once in current.done_keys:
                return None
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            now = self.clock()
            message = Message(kind=MessageKind.REPLY, channel=current.channel, text=text, html=html)
            updates = reply_updates(current, status, now)
            adds = {"done_keys": (once,)} if once else {}
            return Action(Event.REPLY_SENT, actor, now, updates, message, adds=adds)

        return self._required(number, self._change({"number": number}, decide))

    def add_note(
        self, number: int, *, actor: Actor, text: str, inbound_id: str | None = None
    ) -> Ticket:
        """An internal note: the team sees it, the player never does. `inbound_id`: the
        platform's id of the message it came as; a resend of it adds nothing."""
        note = Message(kind=MessageKind.NOTE, channel=Channel.SLACK, text=text)
        action = Action(Event.NOTE_ADDED, actor, self.clock(), {}, note, inbound_id=inbound_id)
        return self._once(inbound_id, lambda: self._record(number, action))

    def take(self, number: int, *, actor: Actor) -> Ticket:
        """Assign to whoever took it; a new ticket moves to inprogress."""

        def decide(current: Ticket) -> Action:
            if current.status is Status.CLOSED:
                raise TicketClosed(number)
            return Action(Event.ASSIGNED, actor, self.clock(), take_updates(current, actor))

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
            return Action(Event.ESCALATED, actor, now, updates, note, data=data)

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
            return Action(
                Event.ESCALATION_ACKNOWLEDGED, actor, now, {"escalation": acked}, data=data
            )

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
        self._record(into, Action(Event.MERGE_RECEIVED, actor, self.clock(), {}, note))

        def decide(current: Ticket) -> Action:
            if current.merged_into is not None:
                raise CannotMerge(number, into, f"#{number} was merged meanwhile")
            now = self.clock()
            updates = {**status_updates(current, Status.CLOSED, now), "merged_into": into}
            return Action(Event.MERGED, actor, now, updates)

        return self._required(number, self._change({"number": number}, decide))

    def set_player(self, number: int, player: Player, *, actor: Actor) -> Ticket:
        """Correct who the ticket's player is (an agent learned the player id)."""
        action = Action(Event.PLAYER_CHANGED, actor, self.clock(), {"player": player})
        return self._record(number, action)
